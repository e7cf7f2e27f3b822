package client

import (
	"encoding/base64"
	"strconv"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func strconvQuote(s string) string { return strconv.Quote(s) }
