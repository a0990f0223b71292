package persist

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func openT(t testing.TB, dir string, opts *Options) Store {
	t.Helper()
	s, err := OpenWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func closeT(t testing.TB, s Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func logSize(t testing.TB, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// captureLogger returns a logger that writes into the returned buffer.
func captureLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, nil)
	mustPut(t, s, Outgoing, 10, "a")
	mustPut(t, s, Outgoing, 3, "b")
	mustPut(t, s, Incoming, 3, "in")
	mustPut(t, s, Outgoing, 7, "c")
	mustPut(t, s, Outgoing, 10, "a2")
	mustDelete(t, s, Outgoing, 3)
	mustPut(t, s, Outgoing, 3, "b2")
	mustPut(t, s, Incoming, 4, "in4")
	if err := s.Reset(Incoming); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, Incoming, 5, "in5")
	closeT(t, s)

	for range 2 {
		s = openT(t, dir, nil)
		expect(t, s, Outgoing, "10=a2 7=c 3=b2")
		expect(t, s, Incoming, "5=in5")
		closeT(t, s)
	}

	// The reopened store keeps appending in the right order.
	s = openT(t, dir, nil)
	mustPut(t, s, Outgoing, 1, "d")
	mustPut(t, s, Outgoing, 7, "c2")
	closeT(t, s)
	s = openT(t, dir, nil)
	defer s.Close()
	expect(t, s, Outgoing, "10=a2 7=c2 3=b2 1=d")
}

func TestOpenCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := openT(t, dir, nil)
	mustPut(t, s, Outgoing, 1, "x")
	closeT(t, s)
	s = openT(t, dir, nil)
	defer s.Close()
	expect(t, s, Outgoing, "1=x")
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{compactMin: 8 << 10}
	s := openT(t, dir, opts)
	// A few long-lived entries whose order must survive, then churn from
	// several goroutines (so that commits are shared and the test is quick).
	mustPut(t, s, Outgoing, 900, "first")
	mustPut(t, s, Incoming, 900, "in-first")
	mustPut(t, s, Outgoing, 901, "second")
	mustPut(t, s, Outgoing, 902, "third")
	val := []byte(strings.Repeat("x", 200))
	const workers, rounds = 8, 60
	var peak atomic.Int64
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range rounds {
				id := uint16(g*10 + i%10)
				if err := s.Put(Outgoing, id, val); err != nil {
					t.Error(err)
					return
				}
				if err := s.Delete(Outgoing, id); err != nil {
					t.Error(err)
					return
				}
				if g == 0 && i == rounds/2 {
					if err := s.Put(Outgoing, 901, []byte("second-replaced")); err != nil {
						t.Error(err)
						return
					}
				}
				if fi, err := os.Stat(filepath.Join(dir, logName)); err == nil && fi.Size() > peak.Load() {
					peak.Store(fi.Size()) // racy maximum; good enough
				}
			}
		})
	}
	wg.Wait()
	mustPut(t, s, Outgoing, 5, "late")
	written := int64(workers * rounds * (2*(frameHdr+recHdr) + len(val)))
	if size := logSize(t, dir); peak.Load() > 4*opts.compactMin || size > 2*opts.compactMin {
		t.Fatalf("log not compacted: %d bytes written, peak %d bytes, now %d", written, peak.Load(), size)
	}
	want := "900=first 901=second-replaced 902=third 5=late"
	expect(t, s, Outgoing, want)
	expect(t, s, Incoming, "900=in-first")
	closeT(t, s)
	if _, err := os.Stat(filepath.Join(dir, tmpName)); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	s = openT(t, dir, nil)
	defer s.Close()
	expect(t, s, Outgoing, want)
	expect(t, s, Incoming, "900=in-first")
}

// TestCompactAtOpen reopens a log that is mostly garbage with a low threshold.
func TestCompactAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, nil)
	mustPut(t, s, Outgoing, 1, "keep")
	for i := range 100 {
		mustPut(t, s, Outgoing, 2, strings.Repeat("y", 100+i))
	}
	mustPut(t, s, Incoming, 3, "keep3")
	closeT(t, s)
	before := logSize(t, dir)
	s = openT(t, dir, &Options{compactMin: 1024})
	defer s.Close()
	if after := logSize(t, dir); after >= before/4 {
		t.Fatalf("log not compacted at open: %d -> %d bytes", before, after)
	}
	expect(t, s, Outgoing, "1=keep 2="+strings.Repeat("y", 199))
	expect(t, s, Incoming, "3=keep3")
}

func TestLargeValue(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, nil)
	big := bytes.Repeat([]byte("0123456789abcdef"), (3*batchCap)/16+3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 10 {
				if err := s.Put(Incoming, uint16(g*10+k), []byte("small")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	if err := s.Put(Outgoing, 1, big); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	closeT(t, s)
	s = openT(t, dir, nil)
	defer s.Close()
	es, err := s.Load(Outgoing)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || !bytes.Equal(es[0].Data, big) {
		t.Fatal("large value did not survive reopen")
	}
	es, err = s.Load(Incoming)
	if err != nil || len(es) != 80 {
		t.Fatalf("Load(Incoming) = %d entries, %v", len(es), err)
	}
}

// writeLog creates a log with n entries, one Put (hence one frame) each, and
// returns its bytes and the offset where the last frame starts.
func writeLog(t *testing.T, n int) (data []byte, lastStart int64) {
	dir := t.TempDir()
	s := openT(t, dir, nil)
	for i := 1; i <= n; i++ {
		if i == n {
			lastStart = logSize(t, dir)
		}
		mustPut(t, s, Outgoing, uint16(i), fmt.Sprintf("value-%d-%s", i, strings.Repeat("p", 20)))
	}
	closeT(t, s)
	data, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	return data, lastStart
}

func wantFirst(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d=value-%d-%s", i, i, strings.Repeat("p", 20))
	}
	return b.String()
}

// openLog writes data as the log of a fresh directory and opens it.
func openLog(t *testing.T, data []byte, opts *Options) (string, Store, error) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, logName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenWith(dir, opts)
	return dir, s, err
}

func TestTornTail(t *testing.T) {
	const n = 5
	data, last := writeLog(t, n)
	end := int64(len(data))
	cuts := []int64{last + 1, last + 4, last + 11, last + frameHdr, last + frameHdr + 1, last + frameHdr + recHdr + 3, end - 1}
	for _, cut := range cuts {
		t.Run(strconv.FormatInt(cut-last, 10), func(t *testing.T) {
			logger, logged := captureLogger()
			dir, s, err := openLog(t, data[:cut], &Options{Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			expect(t, s, Outgoing, wantFirst(n-1))
			if !strings.Contains(logged.String(), "torn") || !strings.Contains(logged.String(), "offset="+strconv.FormatInt(last, 10)) {
				t.Errorf("torn tail not reported: %q", logged.String())
			}
			if got := logSize(t, dir); got != last {
				t.Errorf("log is %d bytes after recovery, want %d", got, last)
			}
			// Appending after recovery must produce a readable log.
			mustPut(t, s, Outgoing, 99, "after")
			closeT(t, s)
			s = openT(t, dir, nil)
			defer s.Close()
			expect(t, s, Outgoing, wantFirst(n-1)+" 99=after")
		})
	}
	t.Run("intact", func(t *testing.T) {
		logger, logged := captureLogger()
		_, s, err := openLog(t, data, &Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		expect(t, s, Outgoing, wantFirst(n))
		if logged.String() != "" {
			t.Errorf("unexpected log output: %q", logged.String())
		}
	})
}

// TestTornTailGarbage covers tails that a crash can leave behind when the
// file size reached the disk before the data did.
func TestTornTailGarbage(t *testing.T) {
	const n = 4
	data, last := writeLog(t, n)
	rnd := make([]byte, 300)
	for i := range rnd {
		rnd[i] = byte(rand.Uint32())
	}
	lastBodyFlipped := bytes.Clone(data)
	lastBodyFlipped[len(data)-2] ^= 0x40
	tails := map[string]struct {
		data []byte
		want int
	}{
		"zeros":             {append(bytes.Clone(data), make([]byte, 300)...), n},
		"random":            {append(bytes.Clone(data), rnd...), n},
		"zeroed last frame": {append(bytes.Clone(data[:last]), make([]byte, len(data)-int(last))...), n - 1},
		"last body flipped": {lastBodyFlipped, n - 1},
	}
	for name, tc := range tails {
		t.Run(name, func(t *testing.T) {
			logger, logged := captureLogger()
			_, s, err := openLog(t, tc.data, &Options{Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			expect(t, s, Outgoing, wantFirst(tc.want))
			if !strings.Contains(logged.String(), "torn") {
				t.Errorf("torn tail not reported: %q", logged.String())
			}
		})
	}
}

func TestCorruptMiddle(t *testing.T) {
	data, _ := writeLog(t, 5)
	// Frame offsets: each frame is the same size here.
	frame := (int64(len(data)) - fileHdr) / 5
	second := fileHdr + frame
	cases := map[string]struct {
		at     int64 // byte to flip
		offset int64 // offset the error must name
	}{
		"body":          {second + frameHdr + recHdr + 2, second},
		"record header": {second + frameHdr + 1, second},
		"length":        {second, second},
		"header crc":    {second + 5, second},
		"body crc":      {second + 9, second},
		"magic":         {2, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(data)
			bad[tc.at] ^= 0x01
			dir, s, err := openLog(t, bad, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a corrupt log")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, filepath.Join(dir, logName)) || !strings.Contains(msg, fmt.Sprintf("offset %d", tc.offset)) {
				t.Fatalf("error %q does not name the file and offset %d", msg, tc.offset)
			}
			// The failed Open must release the lock.
			if err := os.WriteFile(filepath.Join(dir, logName), data, 0o600); err != nil {
				t.Fatal(err)
			}
			s = openT(t, dir, nil)
			closeT(t, s)
		})
	}
	t.Run("short file", func(t *testing.T) {
		_, _, err := openLog(t, []byte("CUL"), nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open of a 3-byte log = %v", err)
		}
	})
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, nil)
	s2, err := Open(dir)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	closeT(t, s)
	s = openT(t, dir, nil)
	closeT(t, s)
}

func TestLeftoverTmpRemoved(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, nil)
	mustPut(t, s, Outgoing, 1, "a")
	closeT(t, s)
	tmp := filepath.Join(dir, tmpName)
	if err := os.WriteFile(tmp, []byte("half a compaction"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, nil)
	defer s.Close()
	expect(t, s, Outgoing, "1=a")
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("leftover %s not removed: %v", tmpName, err)
	}
}

// TestWriteFailureSticky breaks the file under the store and checks that
// the failure is reported and sticks.
func TestWriteFailureSticky(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, nil)
	mustPut(t, s, Outgoing, 1, "a")
	fs := s.(*fileStore)
	fs.mu.Lock()
	fs.f.Close()
	fs.mu.Unlock()
	err := s.Put(Outgoing, 2, []byte("b"))
	if err == nil {
		t.Fatal("Put on a closed file succeeded")
	}
	if err2 := s.Delete(Outgoing, 1); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("later Delete = %v, want the sticky %v", err2, err)
	}
	if _, err2 := s.Load(Outgoing); err2 == nil {
		t.Fatal("Load after failure succeeded")
	}
	s.Close() // reports the already closed file; must not hang
	s = openT(t, dir, nil)
	defer s.Close()
	expect(t, s, Outgoing, "1=a")
}

// Errors name the file that exists: the log is written under tmpName and
// renamed to logName, both when it is created and after a compaction, and
// the error of a later write must not name the temporary file, which is
// gone by then.
func TestErrorsNameTheLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T, dir string) Store
	}{
		{"new log", func(t *testing.T, dir string) Store { return openT(t, dir, nil) }},
		{"compacted at open", func(t *testing.T, dir string) Store {
			s := openT(t, dir, nil)
			for i := range 50 {
				mustPut(t, s, Outgoing, 1, strings.Repeat("y", 100+i))
			}
			closeT(t, s)
			return openT(t, dir, &Options{compactMin: 1024})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := tc.open(t, dir)
			fs := s.(*fileStore)
			fs.mu.Lock()
			fs.f.Close() // the next write fails
			fs.mu.Unlock()
			err := s.Put(Outgoing, 2, []byte("b"))
			if err == nil {
				t.Fatal("Put on a closed file succeeded")
			}
			if strings.Contains(err.Error(), tmpName) || !strings.Contains(err.Error(), filepath.Join(dir, logName)) {
				t.Errorf("error %q does not name %s alone", err, filepath.Join(dir, logName))
			}
			s.Close()
		})
	}
}

// The kill -9 test: the child process (selected by killEnv) Puts entries
// and reports each one on stdout after Put returns; the parent kills it at
// a random moment and checks that everything reported is in the store.
const (
	killEnv     = "PERSIST_KILL9_DIR"
	killBaseEnv = "PERSIST_KILL9_BASE"
	killWorkers = 4
	killPerRun  = 12000
)

// killPayload derives a value from its ID so the parent can verify it.
func killPayload(id uint16) []byte {
	return fmt.Appendf(nil, "id=%05d;%s", id, strings.Repeat(string(rune('a'+id%26)), 20+int(id%97)))
}

func TestKill9(t *testing.T) {
	if dir := os.Getenv(killEnv); dir != "" {
		killChild(dir)
		return
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs SIGKILL and flock")
	}
	dir := t.TempDir()
	putDone := map[uint16]bool{} // Put returned
	delDone := map[uint16]bool{} // Delete returned
	compactions := 0
	for round := range 4 {
		base := round * (killPerRun + 100)
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$", "-test.count=1")
		cmd.Env = append(os.Environ(), killEnv+"="+dir, killBaseEnv+"="+strconv.Itoa(base))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		defer func() { // on an early return: no orphaned child, no blocked reader
			cmd.Process.Kill()
			for range lines {
			}
		}()
		var kill *time.Timer
		for line := range lines {
			if kill == nil {
				// Kill at a random moment once the child is writing.
				delay := time.Duration(30+rand.IntN(300)) * time.Millisecond
				kill = time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
			}
			if strings.Contains(line, "compacted") {
				compactions++
			}
			f := strings.Fields(line)
			if len(f) != 2 || (f[0] != "P" && f[0] != "D") {
				continue
			}
			id, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("child printed %q", line)
			}
			if f[0] == "P" {
				putDone[uint16(id)] = true
			} else {
				delDone[uint16(id)] = true
			}
		}
		// The pipe closed: the child is dead, or failed before the timer.
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if kill == nil {
			t.Fatal("child printed nothing")
		}
		kill.Stop()

		s := openT(t, dir, nil)
		es, err := s.Load(Outgoing)
		if err != nil {
			t.Fatal(err)
		}
		present := map[uint16]bool{}
		last := map[int]uint16{}
		for _, e := range es {
			if !bytes.Equal(e.Data, killPayload(e.ID)) {
				t.Fatalf("round %d: entry %d has payload %q", round, e.ID, e.Data)
			}
			if !putDone[e.ID] && int(e.ID) >= base+killPerRun {
				t.Fatalf("round %d: entry %d was never put", round, e.ID)
			}
			// Each child goroutine puts increasing IDs, and with them the
			// order of the entries.
			w := int(e.ID) % killWorkers
			if l, ok := last[w]; ok && l >= e.ID {
				t.Fatalf("round %d: entry %d after %d", round, e.ID, l)
			}
			last[w] = e.ID
			present[e.ID] = true
		}
		for id := range putDone {
			switch {
			case delDone[id] && present[id]:
				t.Fatalf("round %d: entry %d present after its Delete returned", round, id)
			case !delDone[id] && !present[id] && !killDeletes(id):
				t.Fatalf("round %d: entry %d lost after its Put returned", round, id)
			}
		}
		t.Logf("round %d: child reported %d puts and %d deletes in total, %d compactions; %d entries live", round, len(putDone), len(delDone), compactions, len(es))
		closeT(t, s)
	}
}

// killDeletes says whether the child deletes id after putting it.
func killDeletes(id uint16) bool { return id%5 != 0 }

func killChild(dir string) {
	base, err := strconv.Atoi(os.Getenv(killBaseEnv))
	if err != nil {
		panic(err)
	}
	// A low threshold so that compactions happen while the parent kills.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := OpenWith(dir, &Options{compactMin: 16 << 10, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var wg sync.WaitGroup
	for w := range killWorkers {
		wg.Go(func() {
			// IDs congruent to w modulo killWorkers belong to this worker.
			start := base + (killWorkers-base%killWorkers+w)%killWorkers
			for id := start; id < base+killPerRun; id += killWorkers {
				if err := s.Put(Outgoing, uint16(id), killPayload(uint16(id))); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(2)
				}
				os.Stdout.WriteString("P " + strconv.Itoa(id) + "\n")
				if killDeletes(uint16(id)) {
					if err := s.Delete(Outgoing, uint16(id)); err != nil {
						fmt.Fprintln(os.Stderr, "child:", err)
						os.Exit(2)
					}
					os.Stdout.WriteString("D " + strconv.Itoa(id) + "\n")
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(time.Hour) // wait for the kill (select{} could trip deadlock detection)
}

// TestFrameEncoding pins the on-disk layout documented in file.go.
func TestFrameEncoding(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, nil)
	mustPut(t, s, Incoming, 0x0102, "hi")
	closeT(t, s)
	data, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:fileHdr]) != fileMagic {
		t.Fatalf("magic %q", data[:fileHdr])
	}
	f := data[fileHdr:]
	if n := binary.LittleEndian.Uint32(f); n != recHdr+2 || len(f) != frameHdr+recHdr+2 {
		t.Fatalf("frame length %d, file tail %d bytes", n, len(f))
	}
	rec := f[frameHdr:]
	want := []byte{opPut, byte(Incoming), 0x02, 0x01, 2, 0, 0, 0, 'h', 'i'}
	if !bytes.Equal(rec, want) {
		t.Fatalf("record % x, want % x", rec, want)
	}
}
