package client

import (
	"context"
	"fmt"

	"github.com/cairnmesh/cairn/codec"
)

// Delivery notices (docs/crypto.md, "Delivery notices").
//
// Relays delete an envelope when its recipient's signed receipt arrives,
// but the sender hears nothing of it: receipts go to the recipient's own
// tag. So a client that wants its contacts to see "delivered" tells them,
// end to end: an ordinary message (kind 1, through the same session, so
// relays cannot tell it from text) whose plaintext is
//
//	0xFF 0x01 ‖ envelope ids of the messages read (16 bytes each, 1 to 64)
//
// 0xFF never begins UTF-8 text, and Send and Seal refuse text that starts
// with it, so the first byte sets control plaintexts apart from what the
// user wrote. A notice is sent at priority bulk once the messages it names
// are saved and before their receipts, one per sender per batch; it is
// never itself noticed. A plaintext that starts with 0xFF and is not a
// notice this client understands is dropped (acknowledged, not shown).
const (
	controlByte     = 0xFF
	noticeDelivered = 0x01
	maxNoticeIDs    = 64
)

func encodeDelivered(ids []codec.ID) []byte {
	b := make([]byte, 0, 2+len(ids)*codec.IDSize)
	b = append(b, controlByte, noticeDelivered)
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// parseControl says whether pt is a control plaintext and, if it is a
// well-formed delivery notice, returns its ids.
func parseControl(pt []byte) (ids []codec.ID, control bool) {
	if len(pt) == 0 || pt[0] != controlByte {
		return nil, false
	}
	rest := pt[1:]
	if len(rest) < 1+codec.IDSize || rest[0] != noticeDelivered || (len(rest)-1)%codec.IDSize != 0 || (len(rest)-1)/codec.IDSize > maxNoticeIDs {
		return nil, true
	}
	for b := rest[1:]; len(b) > 0; b = b[codec.IDSize:] {
		ids = append(ids, codec.ID(b[:codec.IDSize]))
	}
	return ids, true
}

// checkText refuses text that would read as a control plaintext.
func checkText(text []byte) error {
	if len(text) > 0 && text[0] == controlByte {
		return fmt.Errorf("text may not start with byte %#x (reserved for delivery notices)", controlByte)
	}
	return nil
}

// sendNotices tells each sender in read (did:key → envelope ids) that those
// messages arrived. Failures are logged: a lost notice costs the sender its
// "delivered", nothing else.
func (c *Client) sendNotices(ctx context.Context, read map[string][]codec.ID) {
	for did, ids := range read {
		for len(ids) > 0 {
			n := min(len(ids), maxNoticeIDs)
			c.ks.mu.Lock()
			var (
				env *codec.Envelope
				err error
			)
			if ct := c.ks.lookup(did); ct != nil && len(ct.sessions) > 0 {
				env, err = c.ks.seal(ct, encodeDelivered(ids[:n]), codec.PrioBulk, c.ttlSeconds())
			} else {
				err = fmt.Errorf("%w: no session with %s", ErrNoContact, did)
			}
			c.ks.mu.Unlock()
			if err == nil {
				err = c.publish(ctx, c.mc, env)
			}
			if err != nil {
				c.log.Warn("delivery notice not sent", "to", did, "err", err)
			}
			ids = ids[n:]
		}
		delete(read, did)
	}
}
