package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// memStorage is a Storage in memory, as the web client's IndexedDB one is
// in the browser.
type memStorage struct {
	mu     sync.Mutex // guards data, saves and closed
	data   []byte
	saves  int
	closed bool
}

func (m *memStorage) Load() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil, fmt.Errorf("memory: %w", fs.ErrNotExist)
	}
	return slices.Clone(m.data), nil
}

func (m *memStorage) Save(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data, m.saves = slices.Clone(b), m.saves+1
	return nil
}

func (m *memStorage) Close() error { m.mu.Lock(); m.closed = true; m.mu.Unlock(); return nil }

func TestKeystoreInStorage(t *testing.T) {
	st := &memStorage{}
	ks, err := CreateKeystoreIn(st, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	did := ks.DID()
	if ks.Home() != "" || !ks.Encrypted() || st.saves != 1 {
		t.Errorf("home %q, encrypted %v, saves %d", ks.Home(), ks.Encrypted(), st.saves)
	}
	ks.Close()
	if !st.closed {
		t.Error("Close did not close the storage")
	}
	if _, err := CreateKeystoreIn(&memStorage{data: st.data}, nil); !errors.Is(err, ErrKeystoreExists) {
		t.Errorf("creating over a keystore: %v, want ErrKeystoreExists", err)
	}
	if _, err := OpenKeystoreIn(&memStorage{}, nil); !errors.Is(err, ErrNoKeystore) {
		t.Errorf("opening empty storage: %v, want ErrNoKeystore", err)
	}
	if _, err := OpenKeystoreIn(&memStorage{data: st.data}, nil); !errors.Is(err, ErrPassphraseNeeded) {
		t.Errorf("no passphrase: %v", err)
	}
	if _, err := OpenKeystoreIn(&memStorage{data: st.data}, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	again, err := OpenKeystoreIn(&memStorage{data: st.data}, []byte("pass"))
	if err != nil || again.DID() != did {
		t.Fatalf("reopened: %v, %v", again, err)
	}
}

// A phone without a relay seals messages and keeps them; once it reaches
// one, it publishes them (twice, as after a lost PUBACK: the relay takes the
// duplicate as done); the reader, asking for delivery notices, tells the
// sender which arrived, and the notices are not shown as messages.
func TestSealOfflineAndDeliveryNotices(t *testing.T) {
	alice, _ := newKeystore(t, "")
	bob, _ := newKeystore(t, "")
	alice.AddContact(bob.Card(), "bob", false)
	if _, err := alice.Seal("carol", []byte("x"), codec.PrioNormal, 0); !errors.Is(err, ErrNoContact) {
		t.Errorf("sealing to no contact: %v", err)
	}
	if _, err := alice.Seal("bob", []byte{0xFF, 1}, codec.PrioNormal, 0); err == nil {
		t.Error("sealed text starting with 0xFF")
	}
	other, _ := newKeystore(t, "")
	if _, err := alice.AddContact(other.DID(), "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Seal(other.DID(), []byte("x"), codec.PrioNormal, 0); !errors.Is(err, ErrNoBundle) {
		t.Errorf("sealing to a bare did:key: %v, want ErrNoBundle", err)
	}
	var queued []*codec.Envelope
	for _, text := range []string{"one", "two", "urgent three"} {
		prio := codec.PrioNormal
		if text == "urgent three" {
			prio = codec.PrioUrgent
		}
		e, err := alice.Seal("bob", []byte(text), prio, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if e.TTL != 3600 {
			t.Errorf("ttl %d, want 3600", e.TTL)
		}
		queued = append(queued, e)
	}

	r := relaytest.Start(t, nil)
	addr := "mqtt://" + r.Addrs()["tcp"]
	var (
		mu        sync.Mutex
		delivered []codec.ID
		from      string
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ac, err := Dial(ctx, alice, &Options{Relay: addr, Logger: relaytest.Logger(t), OnDelivered: func(c Contact, ids []codec.ID) {
		mu.Lock()
		defer mu.Unlock()
		delivered, from = append(delivered, ids...), c.Name
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	for _, e := range append(queued, queued[0]) {
		if err := ac.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	bc, err := Dial(ctx, bob, &Options{Relay: addr, Logger: relaytest.Logger(t), DeliveryNotices: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	var got []string
	if err := bc.Receive(ctx, false, func(m Message) { got = append(got, string(m.Text)) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"urgent three", "one", "two"}; !slices.Equal(got, want) {
		t.Errorf("Bob got %q, want %q (urgent first)", got, want)
	}

	var shown []Message
	if err := ac.Receive(ctx, false, func(m Message) { shown = append(shown, m) }); err != nil {
		t.Fatal(err)
	}
	if len(shown) != 0 {
		t.Errorf("Alice was shown %d messages; notices are not messages: %+v", len(shown), shown)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []codec.ID{queued[0].ID(), queued[1].ID(), queued[2].ID()}
	slices.SortFunc(delivered, func(a, b codec.ID) int { return slices.Compare(a[:], b[:]) })
	slices.SortFunc(want, func(a, b codec.ID) int { return slices.Compare(a[:], b[:]) })
	if !slices.Equal(delivered, want) || from != "bob" {
		t.Errorf("Alice heard %x delivered from %q, want %x from bob", delivered, from, want)
	}
}

func TestParseControl(t *testing.T) {
	id := codec.ID{1, 2, 3}
	for _, tc := range []struct {
		name    string
		pt      []byte
		ids     int
		control bool
	}{
		{"text", []byte("hello"), 0, false},
		{"empty", nil, 0, false},
		{"one id", encodeDelivered([]codec.ID{id}), 1, true},
		{"64 ids", encodeDelivered(make([]codec.ID, 64)), 64, true},
		{"65 ids", encodeDelivered(make([]codec.ID, 65)), 0, true},
		{"no ids", []byte{0xFF, 1}, 0, true},
		{"short id", append(encodeDelivered([]codec.ID{id}), 9), 0, true},
		{"unknown notice", append([]byte{0xFF, 2}, id[:]...), 0, true},
	} {
		ids, control := parseControl(tc.pt)
		if len(ids) != tc.ids || control != tc.control {
			t.Errorf("%s: %d ids, control %v; want %d, %v", tc.name, len(ids), control, tc.ids, tc.control)
		}
	}
}

// FuzzParseControl: a plaintext from a contact is text (not starting with
// 0xFF), a control plaintext without ids, or a delivery notice of 1 to 64
// ids that encodes back to the same bytes; never a panic.
func FuzzParseControl(f *testing.F) {
	f.Add([]byte{controlByte, noticeDelivered})
	f.Fuzz(func(t *testing.T, pt []byte) {
		ids, control := parseControl(pt)
		switch {
		case !control:
			if len(pt) > 0 && pt[0] == controlByte || ids != nil {
				t.Fatalf("%x: text, with %d ids", pt, len(ids))
			}
		case ids == nil:
		case len(ids) > maxNoticeIDs || !slices.Equal(encodeDelivered(ids), pt):
			t.Fatalf("%x: %d ids, encoding to %x", pt, len(ids), encodeDelivered(ids))
		}
	})
}

// noticeSeeds are FuzzParseControl's committed seeds: notices of one and
// of the most ids, and near misses.
func noticeSeeds() map[string][]byte {
	id := codec.ID{0xC0, 0xFF, 0xEE, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	ids := make([]codec.ID, maxNoticeIDs)
	for i := range ids {
		ids[i] = id
		ids[i][15] = byte(i)
	}
	return map[string][]byte{
		"one":          encodeDelivered(ids[:1]),
		"most":         encodeDelivered(ids),
		"too-many":     encodeDelivered(append(ids, id)),
		"ragged":       append(encodeDelivered(ids[:1]), 0),
		"unknown-kind": append([]byte{controlByte, noticeDelivered + 1}, id[:]...),
		"text":         []byte("delivered"),
	}
}

// TestWriteNoticeSeeds writes testdata/fuzz/FuzzParseControl.
func TestWriteNoticeSeeds(t *testing.T) {
	if os.Getenv("CAIRN_WRITE_SEEDS") == "" {
		t.Skip("set CAIRN_WRITE_SEEDS=1 to rewrite testdata/fuzz/FuzzParseControl")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseControl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range noticeSeeds() {
		body := "go test fuzz v1\n[]byte(" + strconvQuote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
