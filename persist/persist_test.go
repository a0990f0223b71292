package persist

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt/internal/leakcheck"
)

// TestMain fails the run if goroutines started by the tests outlive them.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// impl opens a fresh, empty store of one implementation.
type impl struct {
	name string
	open func(t testing.TB) Store
}

var impls = []impl{
	{"memory", func(testing.TB) Store { return NewMemory() }},
	{"file", func(t testing.TB) Store {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

func mustPut(t testing.TB, s Store, dir Direction, id uint16, data string) {
	t.Helper()
	if err := s.Put(dir, id, []byte(data)); err != nil {
		t.Fatalf("Put(%v, %d): %v", dir, id, err)
	}
}

func mustDelete(t testing.TB, s Store, dir Direction, id uint16) {
	t.Helper()
	if err := s.Delete(dir, id); err != nil {
		t.Fatalf("Delete(%v, %d): %v", dir, id, err)
	}
}

// format renders entries as "id=data id=data" for readable comparisons.
func format(es []Entry) string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d=%s", e.ID, e.Data)
	}
	return b.String()
}

// expect checks Load(dir) against want, written like format's output.
func expect(t testing.TB, s Store, dir Direction, want string) {
	t.Helper()
	es, err := s.Load(dir)
	if err != nil {
		t.Fatalf("Load(%v): %v", dir, err)
	}
	if got := format(es); got != want {
		t.Fatalf("Load(%v) = %q, want %q", dir, got, want)
	}
}

var storeCases = []struct {
	name string
	run  func(t *testing.T, s Store)
}{
	{"empty", func(t *testing.T, s Store) {
		expect(t, s, Outgoing, "")
		expect(t, s, Incoming, "")
	}},
	{"put order", func(t *testing.T, s Store) {
		mustPut(t, s, Outgoing, 5, "e")
		mustPut(t, s, Outgoing, 1, "a")
		mustPut(t, s, Outgoing, 65535, "z")
		mustPut(t, s, Outgoing, 0, "zero")
		expect(t, s, Outgoing, "5=e 1=a 65535=z 0=zero")
	}},
	{"replace keeps position", func(t *testing.T, s Store) {
		mustPut(t, s, Outgoing, 1, "a")
		mustPut(t, s, Outgoing, 2, "b")
		mustPut(t, s, Outgoing, 3, "c")
		mustPut(t, s, Outgoing, 1, "A-longer")
		mustPut(t, s, Outgoing, 2, "")
		expect(t, s, Outgoing, "1=A-longer 2= 3=c")
	}},
	{"delete", func(t *testing.T, s Store) {
		mustPut(t, s, Outgoing, 1, "a")
		mustPut(t, s, Outgoing, 2, "b")
		mustPut(t, s, Outgoing, 3, "c")
		mustDelete(t, s, Outgoing, 2)
		mustDelete(t, s, Outgoing, 2)
		mustDelete(t, s, Outgoing, 99)
		expect(t, s, Outgoing, "1=a 3=c")
	}},
	{"delete then put moves to end", func(t *testing.T, s Store) {
		mustPut(t, s, Outgoing, 1, "a")
		mustPut(t, s, Outgoing, 2, "b")
		mustDelete(t, s, Outgoing, 1)
		mustPut(t, s, Outgoing, 1, "again")
		expect(t, s, Outgoing, "2=b 1=again")
	}},
	{"directions independent", func(t *testing.T, s Store) {
		mustPut(t, s, Outgoing, 7, "out")
		mustPut(t, s, Incoming, 7, "in")
		mustPut(t, s, Incoming, 8, "in8")
		mustDelete(t, s, Outgoing, 8)
		expect(t, s, Outgoing, "7=out")
		expect(t, s, Incoming, "7=in 8=in8")
		mustDelete(t, s, Incoming, 7)
		expect(t, s, Outgoing, "7=out")
		expect(t, s, Incoming, "8=in8")
	}},
	{"reset per direction", func(t *testing.T, s Store) {
		mustPut(t, s, Outgoing, 1, "a")
		mustPut(t, s, Outgoing, 2, "b")
		mustPut(t, s, Incoming, 1, "x")
		if err := s.Reset(Outgoing); err != nil {
			t.Fatal(err)
		}
		expect(t, s, Outgoing, "")
		expect(t, s, Incoming, "1=x")
		mustPut(t, s, Outgoing, 2, "new")
		mustPut(t, s, Outgoing, 1, "new1")
		expect(t, s, Outgoing, "2=new 1=new1")
		if err := s.Reset(Incoming); err != nil {
			t.Fatal(err)
		}
		expect(t, s, Incoming, "")
		expect(t, s, Outgoing, "2=new 1=new1")
	}},
	{"copies", func(t *testing.T, s Store) {
		in := []byte("abc")
		if err := s.Put(Outgoing, 1, in); err != nil {
			t.Fatal(err)
		}
		in[0] = 'X'
		mustPut(t, s, Outgoing, 2, "def")
		es, err := s.Load(Outgoing)
		if err != nil {
			t.Fatal(err)
		}
		es[0].Data[1] = 'Y'
		es[0].Data = append(es[0].Data, "tail"...) // must not clobber entry 2
		expect(t, s, Outgoing, "1=abc 2=def")
		if string(es[1].Data) != "def" {
			t.Fatalf("append to one entry changed the next: %q", es[1].Data)
		}
	}},
	{"binary data", func(t *testing.T, s Store) {
		data := make([]byte, 3000)
		for i := range data {
			data[i] = byte(i * 7)
		}
		if err := s.Put(Incoming, 3, data); err != nil {
			t.Fatal(err)
		}
		es, err := s.Load(Incoming)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || !bytes.Equal(es[0].Data, data) {
			t.Fatal("binary value did not round-trip")
		}
	}},
	{"invalid direction", func(t *testing.T, s Store) {
		if err := s.Put(0, 1, nil); err == nil {
			t.Error("Put(0) succeeded")
		}
		if err := s.Delete(3, 1); err == nil {
			t.Error("Delete(3) succeeded")
		}
		if _, err := s.Load(9); err == nil {
			t.Error("Load(9) succeeded")
		}
		if err := s.Reset(0); err == nil {
			t.Error("Reset(0) succeeded")
		}
	}},
	{"close", func(t *testing.T, s Store) {
		mustPut(t, s, Outgoing, 1, "a")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(Outgoing, 2, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Put after Close = %v", err)
		}
		if err := s.Delete(Outgoing, 1); !errors.Is(err, ErrClosed) {
			t.Errorf("Delete after Close = %v", err)
		}
		if _, err := s.Load(Outgoing); !errors.Is(err, ErrClosed) {
			t.Errorf("Load after Close = %v", err)
		}
		if err := s.Reset(Outgoing); !errors.Is(err, ErrClosed) {
			t.Errorf("Reset after Close = %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	}},
}

// TestApply: changes take effect in order, as Put and Delete would, through
// each implementation's Batcher and through the one-by-one fallback; the
// durable store keeps them across a reopen.
func TestApply(t *testing.T) {
	changes := []Change{
		{Dir: Outgoing, ID: 3, Data: []byte("c")},
		{Dir: Outgoing, ID: 1, Delete: true},
		{Dir: Outgoing, ID: 2, Data: []byte("B")}, // replaced: keeps its place
		{Dir: Outgoing, ID: 1, Data: []byte("A")}, // deleted, then put: at the end
		{Dir: Incoming, ID: 7, Data: []byte{}},
	}
	for _, im := range impls {
		for _, batch := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/batcher=%v", im.name, batch), func(t *testing.T) {
				s := im.open(t)
				defer s.Close()
				if _, ok := s.(Batcher); !ok {
					t.Fatalf("%s is not a Batcher", im.name)
				}
				mustPut(t, s, Outgoing, 1, "a")
				mustPut(t, s, Outgoing, 2, "b")
				var target Store = s
				if !batch {
					target = struct{ Store }{s} // hides Apply
				}
				if err := Apply(target, changes); err != nil {
					t.Fatal(err)
				}
				expect(t, s, Outgoing, "2=B 3=c 1=A")
				expect(t, s, Incoming, "7=")
				if err := Apply(s, []Change{{Dir: 9, ID: 1}}); err == nil {
					t.Error("Apply with an invalid direction succeeded")
				}
				expect(t, s, Outgoing, "2=B 3=c 1=A")
			})
		}
	}
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(s, changes); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	expect(t, s, Outgoing, "3=c 2=B 1=A")
	if err := Apply(s, nil); err != nil {
		t.Errorf("Apply of nothing: %v", err)
	}
	s.Close()
	if err := Apply(s, changes); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close = %v", err)
	}
}

func TestStore(t *testing.T) {
	for _, im := range impls {
		for _, c := range storeCases {
			t.Run(im.name+"/"+c.name, func(t *testing.T) {
				s := im.open(t)
				defer s.Close()
				c.run(t, s)
			})
		}
	}
}

func TestDirectionString(t *testing.T) {
	for d, want := range map[Direction]string{Outgoing: "outgoing", Incoming: "incoming", 0: "Direction(0)", 200: "Direction(200)"} {
		if got := d.String(); got != want {
			t.Errorf("Direction(%d).String() = %q, want %q", uint8(d), got, want)
		}
	}
}

// TestTooLarge checks the size limit both implementations apply through
// checkPut, without allocating a 256 MiB value.
func TestTooLarge(t *testing.T) {
	if err := checkPut(Outgoing, maxData); err != nil {
		t.Errorf("checkPut(%d bytes) = %v", maxData, err)
	}
	if err := checkPut(Outgoing, maxData+1); err == nil {
		t.Errorf("checkPut(%d bytes) succeeded", maxData+1)
	}
}

// TestConcurrent has 64 goroutines Put, replace, Delete and Load at once
// and checks the result; run it with -race.
func TestConcurrent(t *testing.T) {
	const workers, perWorker = 64, 40
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			s := im.open(t)
			defer s.Close()
			var wg sync.WaitGroup
			errc := make(chan error, workers)
			for g := range workers {
				wg.Go(func() {
					for k := range perWorker {
						id := uint16(g*1000 + k)
						dir := Direction(1 + k%2)
						if err := s.Put(dir, id, fmt.Appendf(nil, "v%d", id)); err != nil {
							errc <- err
							return
						}
						if err := s.Put(dir, id, fmt.Appendf(nil, "w%d", id)); err != nil {
							errc <- err
							return
						}
						if k%3 != 0 {
							if err := s.Delete(dir, id); err != nil {
								errc <- err
								return
							}
						}
						if k%10 == 0 {
							if _, err := s.Load(dir); err != nil {
								errc <- err
								return
							}
						}
					}
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			for dir := Outgoing; dir <= Incoming; dir++ {
				es, err := s.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[uint16]bool{}
				last := map[int]int{} // worker -> last k, to check per-worker order
				for _, e := range es {
					g, k := int(e.ID)/1000, int(e.ID)%1000
					if k%3 != 0 || Direction(1+k%2) != dir {
						t.Fatalf("%v: unexpected entry %d", dir, e.ID)
					}
					if string(e.Data) != fmt.Sprintf("w%d", e.ID) {
						t.Fatalf("%v: entry %d = %q", dir, e.ID, e.Data)
					}
					if l, ok := last[g]; ok && l >= k {
						t.Fatalf("%v: entry %d out of order", dir, e.ID)
					}
					last[g] = k
					seen[e.ID] = true
				}
				for g := range workers {
					for k := range perWorker {
						if k%3 == 0 && Direction(1+k%2) == dir && !seen[uint16(g*1000+k)] {
							t.Fatalf("%v: entry %d missing", dir, g*1000+k)
						}
					}
				}
			}
		})
	}
}

// TestNoGoroutineLeak opens and closes stores, some with calls in flight
// during Close, and checks that the goroutine count comes back.
func TestNoGoroutineLeak(t *testing.T) {
	before := leakcheck.Count()
	for range 5 {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for k := 0; ; k++ {
					if err := s.Put(Outgoing, uint16(g*100+k%100), []byte("x")); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Error(err)
						}
						return
					}
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
	if n := leakcheck.Settle(before, 2*time.Second); n > before {
		t.Fatalf("%d goroutines before, %d after", before, n)
	}
}
