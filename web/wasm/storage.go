//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall/js"
)

// idbStorage keeps the keystore's bytes in IndexedDB through the page's
// cairnStore object (web/static/app.js): load() resolves to a Uint8Array,
// or undefined when nothing is stored; save(bytes) resolves once the write
// transaction has committed (durability "strict"). The bytes are the
// keystore file: sealed under the passphrase when there is one.
type idbStorage struct{ js js.Value }

func (s idbStorage) Load() ([]byte, error) {
	v, err := await(s.js.Call("load"))
	if err != nil {
		return nil, fmt.Errorf("reading IndexedDB: %w", err)
	}
	if v.IsUndefined() || v.IsNull() {
		return nil, fmt.Errorf("IndexedDB: %w", fs.ErrNotExist)
	}
	return goBytes(v), nil
}

func (s idbStorage) Save(b []byte) error {
	if _, err := await(s.js.Call("save", jsBytes(b))); err != nil {
		return fmt.Errorf("writing IndexedDB: %w", err)
	}
	return nil
}

func (s idbStorage) Close() error { return nil }

// await waits for a JavaScript promise. It must run on a goroutine of its
// own, never in a callback from JavaScript, which would block the event
// loop that settles the promise.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: arg(args, 0)}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "rejected"
		if e := arg(args, 0); e.Truthy() {
			msg = e.Call("toString").String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	r := <-ch
	return r.v, r.err
}
