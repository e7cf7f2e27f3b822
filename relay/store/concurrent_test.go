package store

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// TestConcurrent runs Put, Scan, Sweep, PutReceipt, Pending and MarkSent
// from 16 goroutines (run it with -race) and then checks that the counters
// kept in the file agree with what the indexes hold.
func TestConcurrent(t *testing.T) {
	clock := &fakeClock{}
	s := openTest(t, Options{Now: clock.Now, Links: []string{"uplink:0"}, MaxTotalBytes: 300 * unit})
	const goroutines, rounds = 16, 150
	owners := make([]ed25519.PrivateKey, 4)
	for i := range owners {
		owners[i] = newKey(t)
	}
	var wg sync.WaitGroup
	errc := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := owners[g%len(owners)]
			tag := codec.TagOf(owner.Public().(ed25519.PublicKey))
			var mine []codec.ID
			for i := range rounds {
				switch g % 4 {
				case 0, 1: // writers, with receipts now and then
					id, err := s.Put(newEnv(tag, codec.Prio(rand.N(3)), uint32(256+rand.N(1000))), LinkLocal)
					if err != nil && !errors.Is(err, ErrQuota) {
						errc <- err
						return
					}
					mine = append(mine, id)
					if i%10 == 9 {
						rc := codec.SignReceipt(owner, mine[len(mine)-5:])
						if _, err := s.PutReceipt(rc.Envelope(300, codec.PrioNormal), rc.IDs, LinkLocal); err != nil {
							errc <- err
							return
						}
					}
				case 2: // local delivery and the uplink
					s.Scan(tag, func(Item) bool { return true })
					items, err := s.Pending("uplink:0", 0, 20)
					if err != nil {
						errc <- err
						return
					}
					var ids []codec.ID
					for _, it := range items {
						ids = append(ids, it.ID)
					}
					if err := s.MarkSent("uplink:0", ids...); err != nil {
						errc <- err
						return
					}
				case 3: // time passes
					clock.Advance(time.Duration(rand.N(3)) * time.Second)
					if _, err := s.Sweep(); err != nil {
						errc <- err
						return
					}
					s.Stats()
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	st := s.Stats()
	if st.Bytes > 300*unit {
		t.Errorf("Bytes %d over the quota %d", st.Bytes, 300*unit)
	}
	stored := countStored(t, s)
	if st.Count != stored || countKeys(t, s, bucketEvict) != stored || countKeys(t, s, bucketTag) != stored {
		t.Errorf("Count %d, records %d, eviction index %d, tag index %d: out of step",
			st.Count, stored, countKeys(t, s, bucketEvict), countKeys(t, s, bucketTag))
	}
	if records := countKeys(t, s, bucketLog); s.ids.len() != records {
		t.Errorf("%d records but %d id index entries", records, s.ids.len())
	}
	if st.Stored == 0 || st.Deleted == 0 || st.Expired == 0 {
		t.Errorf("the test exercised too little: %+v", st)
	}
	t.Logf("%+v", st)
}

func countStored(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	var total int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog)
		return log.ForEach(func(k, v []byte) error {
			r, err := unmarshalRecord(getU64Key(k), v)
			if err != nil {
				return err
			}
			if _, found, err := lookup(s.ids, log.Cursor(), r.id, true); err != nil || !found {
				return fmt.Errorf("record %d: id %s not indexed to it: %v", r.seq, r.id, err)
			}
			if r.stored() {
				n++
				total += int64(r.size)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Bytes != total {
		t.Errorf("Stats.Bytes %d, records hold %d", st.Bytes, total)
	}
	return n
}
