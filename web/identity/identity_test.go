package identity

import (
	"errors"
	"io/fs"
	"runtime"
	"sync"
	"testing"

	"github.com/cairnmesh/cairn/client"
)

// record is one stored keystore file, as IndexedDB holds it: every handle
// on it reads and writes the same bytes. Load and Save yield, as the
// browser's awaits do, so that unserialized opens interleave.
type record struct {
	mu    sync.Mutex // guards data and saves
	data  []byte
	saves int
}

type handle struct{ r *record }

func (h handle) Load() ([]byte, error) {
	runtime.Gosched()
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	if h.r.data == nil {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), h.r.data...), nil
}

func (h handle) Save(b []byte) error {
	runtime.Gosched()
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	h.r.data = append([]byte(nil), b...)
	h.r.saves++
	return nil
}

func (h handle) Close() error { return nil }

func newSlot(t *testing.T) (*Slot, *record) {
	t.Helper()
	r := &record{}
	s := New(func() client.Storage { return handle{r} })
	t.Cleanup(func() {
		if ks := s.Keystore(); ks != nil {
			ks.Close()
		}
	})
	return s, r
}

// together runs fn n times at once and returns the results.
func together[T any](n int, fn func() (T, error)) ([]T, []error) {
	vs, errs := make([]T, n), make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			vs[i], errs[i] = fn()
		})
	}
	start.Done()
	done.Wait()
	return vs, errs
}

// Two creates at once (a double click) make one identity: the other is
// refused, and the stored record is the one that was made.
func TestCreateTogether(t *testing.T) {
	s, r := newSlot(t)
	kss, errs := together(8, func() (*client.Keystore, error) { return s.Create(nil) })
	var made *client.Keystore
	for i, err := range errs {
		switch {
		case err == nil && made == nil:
			made = kss[i]
		case err == nil:
			t.Errorf("two identities made: %s and %s", made.DID(), kss[i].DID())
		case !errors.Is(err, client.ErrKeystoreExists):
			t.Errorf("create: %v, want ErrKeystoreExists", err)
		}
	}
	if made == nil {
		t.Fatal("no identity made")
	}
	if s.Keystore() != made {
		t.Error("the slot does not hold the identity made")
	}
	if r.saves != 1 {
		t.Errorf("record saved %d times, want 1", r.saves)
	}
	stored, err := client.OpenKeystoreIn(handle{r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stored.Close()
	if stored.DID() != made.DID() {
		t.Errorf("stored identity %s, made %s", stored.DID(), made.DID())
	}
	if _, err := s.Create(nil); !errors.Is(err, client.ErrKeystoreExists) {
		t.Errorf("create while open: %v, want ErrKeystoreExists", err)
	}
}

// Unlocks and state calls at once, and unlocks once open, all give the
// one keystore.
func TestUnlockTogether(t *testing.T) {
	r := &record{}
	ks, err := client.CreateKeystoreIn(handle{r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	did := ks.DID()
	ks.Close()

	s := New(func() client.Storage { return handle{r} })
	t.Cleanup(func() { s.Keystore().Close() })
	kss, errs := together(8, func() (*client.Keystore, error) {
		if _, err := s.State(); err != nil {
			return nil, err
		}
		return s.Unlock(nil)
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("unlock: %v", err)
		}
		if kss[i] != kss[0] {
			t.Fatal("two keystores opened over one record")
		}
	}
	if kss[0].DID() != did || s.Keystore() != kss[0] {
		t.Errorf("opened %s, stored %s", kss[0].DID(), did)
	}
	if st, err := s.State(); st != Open || err != nil {
		t.Errorf("state %q, %v; want open", st, err)
	}
	if again, err := s.Unlock([]byte("anything")); again != kss[0] || err != nil {
		t.Errorf("unlock while open: %v, %v; want the open keystore", again, err)
	}
}

func TestState(t *testing.T) {
	s, _ := newSlot(t)
	if st, err := s.State(); st != None || err != nil {
		t.Errorf("empty record: %q, %v; want none", st, err)
	}
	if s.Keystore() != nil {
		t.Error("a keystore open before any was made")
	}
	if _, err := s.Unlock(nil); !errors.Is(err, client.ErrNoKeystore) {
		t.Errorf("unlock with nothing stored: %v, want ErrNoKeystore", err)
	}
}
