package store

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

const (
	envCrashChild = "CAIRN_STORE_CRASH_CHILD" // path of the store the child writes to
	envCrashAsync = "CAIRN_STORE_CRASH_ASYNC" // "1": the child pipelines with PutAsync
	crashRounds   = 24
	crashPutters  = 16
)

// crashChild runs in a child process: concurrent Putters that print each
// id only after Put returned nil (or PutAsync called done with nil), until
// the parent kills the process.
func crashChild(path string) {
	s, err := Open(Options{Path: path, Logger: quiet, Links: []string{"uplink:0"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	if os.Getenv(envCrashAsync) == "1" {
		crashChildAsync(s)
	}
	var out sync.Mutex // guards stdout, so lines do not interleave
	for i := range crashPutters {
		go func() {
			tag := tagOf(byte(i))
			for {
				id, err := s.Put(newEnv(tag, codec.Prio(i%3), 3600), LinkLocal)
				if err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(4)
				}
				out.Lock()
				os.Stdout.WriteString(id.String() + "\n")
				out.Unlock()
			}
		}()
	}
	select {}
}

// crashChildAsync pipelines: each putter keeps up to 64 PutAsync calls in
// flight; a printer writes an id once its done reported it durable.
func crashChildAsync(s *Store) {
	acked := make(chan codec.ID, 4096)
	for i := range crashPutters {
		go func() {
			tag := tagOf(byte(i))
			slots := make(chan struct{}, 64)
			for {
				slots <- struct{}{}
				s.PutAsync(newEnv(tag, codec.Prio(i%3), 3600), LinkLocal, func(id codec.ID, err error) {
					if err != nil {
						fmt.Fprintln(os.Stderr, "put:", err)
						os.Exit(4)
					}
					acked <- id // buffered beyond what is in flight: never blocks
					<-slots
				})
			}
		}()
	}
	for id := range acked {
		os.Stdout.WriteString(id.String() + "\n")
	}
}

// TestCrashKill9 kills a process full of concurrent Puts at random moments
// and checks that every Put that returned nil survived. The same file goes
// through every round, so recovery of a recovered file is tested too.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	t.Run("Put", func(t *testing.T) { crashRoundsOf(t, "0") })
	t.Run("PutAsync", func(t *testing.T) { crashRoundsOf(t, "1") })
}

func crashRoundsOf(t *testing.T, async string) {
	path := filepath.Join(t.TempDir(), "store.db")
	acked := map[codec.ID]bool{}
	start := time.Now()
	for round := range crashRounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envCrashChild+"="+path, envCrashAsync+"="+async)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// Kill somewhere between the first ack and a few hundred ms later.
		first, ok := <-lines
		if !ok {
			cmd.Wait()
			t.Fatalf("round %d: child printed nothing; stderr: %s", round, stderr.String())
		}
		time.Sleep(rand.N(150 * time.Millisecond))
		cmd.Process.Signal(syscall.SIGKILL)
		n := 0
		for _, line := range append([]string{first}, collect(lines)...) {
			b, err := hex.DecodeString(line)
			if err != nil || len(b) != codec.IDSize {
				continue // a line cut by the kill was never fully printed
			}
			acked[codec.ID(b)] = true
			n++
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child exited by itself: %v; stderr: %s", round, err, stderr.String())
		}

		s, err := Open(Options{Path: path, Logger: quiet, Links: []string{"uplink:0"}})
		if err != nil {
			t.Fatalf("round %d: reopening after kill: %v", round, err)
		}
		missing := 0
		for id := range acked {
			if _, ok, err := s.Get(id); err != nil || !ok {
				missing++
			}
		}
		st := s.Stats()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if missing > 0 {
			t.Fatalf("round %d: %d of %d acknowledged envelopes lost", round, missing, len(acked))
		}
		if st.Count < len(acked) {
			t.Fatalf("round %d: Stats.Count %d below %d acknowledged", round, st.Count, len(acked))
		}
		t.Logf("round %d: %d acked this round, %d in all, %d stored", round, n, len(acked), st.Count)
	}
	t.Logf("%d rounds in %v", crashRounds, time.Since(start))
}

func collect(c <-chan string) []string {
	var out []string
	for s := range c {
		out = append(out, s)
	}
	return out
}
