package store

import (
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
)

func TestAuthStamps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTest(t, Options{Path: path})
	k := make([]ed25519.PublicKey, 5)
	for i := range k {
		k[i] = newKey(t).Public().(ed25519.PublicKey)
	}
	check := func(key ed25519.PublicKey, stamp uint64, want error) {
		t.Helper()
		if err := s.CheckAuthStamp(key, stamp); !errors.Is(err, want) {
			t.Errorf("CheckAuthStamp(%x…, %d) = %v, want %v", key[:4], stamp, err, want)
		}
	}
	check(k[0], 100, nil)
	check(k[0], 100, ErrStaleAuth)
	check(k[0], 99, ErrStaleAuth)
	check(k[0], 101, nil)
	check(k[1], 5, nil) // keys are independent
	if err := s.CheckAuthStamp(k[0][:31], 200); err == nil {
		t.Error("a short key was accepted")
	}
	s.Close()

	s = openTest(t, Options{Path: path, MaxAuthKeys: 3})
	check(k[0], 101, ErrStaleAuth) // persisted
	check(k[1], 5, ErrStaleAuth)
	check(k[2], 1, nil)
	check(k[0], 102, nil) // now k[1] was accepted longest ago
	check(k[3], 1, nil)   // fourth key: k[1] is forgotten
	if st := s.Stats(); st.AuthForgotten != 1 {
		t.Errorf("AuthForgotten = %d, want 1", st.AuthForgotten)
	}
	check(k[0], 102, ErrStaleAuth)
	check(k[2], 1, ErrStaleAuth)
	check(k[3], 1, ErrStaleAuth)
	check(k[1], 5, nil) // forgotten, so its old stamp passes; k[2] goes
	check(k[2], 1, nil)
	if st := s.Stats(); st.AuthForgotten != 3 {
		t.Errorf("AuthForgotten = %d, want 3", st.AuthForgotten)
	}
	if n := countKeys(t, s, bucketAuth); n != 3 {
		t.Errorf("%d keys remembered, want 3", n)
	}
	if n := countKeys(t, s, bucketAuthAge); n != 3 {
		t.Errorf("%d keys in the age index, want 3", n)
	}
}
