package persist

// On-disk format
//
// The directory holds "session.log", "lock" (flocked while open) and, only
// while a compaction is running, "session.log.tmp".
//
// session.log starts with the 8 bytes "CULEXSL1" and continues with frames.
// Each commit writes exactly one frame with one write call and then fsyncs;
// a frame is all or nothing, so a torn write can only damage the last frame.
//
//	frame:  len u32 | crc32c(len bytes) u32 | crc32c(body) u32 | body (len bytes)
//	body:   one or more records
//	record: op u8 | dir u8 | id u16 | n u32 | data (n bytes)
//
// All integers are little endian and crc32c is CRC-32 with the Castagnoli
// polynomial. op is 1 (put: data is the value), 2 (delete) or 3 (reset the
// direction; id is 0); delete and reset carry no data. The separate checksum
// of the length lets recovery trust a length before reading the body and
// lets it recognise frame boundaries when searching past damage.
//
// Replaying the records in file order rebuilds the store, including the
// first-Put order: a put of a new key appends it, a put of a live key
// replaces the value in place. Compaction rewrites the live values, in that
// order, as puts into a fresh file, which is fsynced before it is renamed
// over the log.
//
// At Open a damaged frame counts as a torn tail (truncated, and reported to
// Options.Logger) when it can only be the last, unfinished write: its header
// is incomplete; or its header is intact and the frame reaches or passes the
// end of the file; or its header is damaged and no intact frame starts
// anywhere after it. Any other damage is ErrCorrupt.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

const (
	logName  = "session.log"
	tmpName  = "session.log.tmp"
	lockName = "lock"

	fileMagic = "CULEXSL1"
	fileHdr   = int64(len(fileMagic))
	frameHdr  = 12
	recHdr    = 8

	// batchCap bounds the body of a frame that holds more than one record.
	// A single record may be larger; it then travels alone.
	batchCap = 1 << 20
	// maxFrameBody is therefore the largest frame body that can be valid;
	// every frame length read from disk is checked against it before
	// anything is allocated.
	maxFrameBody = recHdr + maxData
	// maxSpareCap is the largest batch buffer kept for reuse; a buffer grown
	// for a huge value is left to the garbage collector.
	maxSpareCap = 4 * batchCap

	opPut    = 1
	opDelete = 2
	opReset  = 3

	defaultCompactMin = 4 << 20
	compactRatio      = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options adjusts OpenWith. A nil *Options, or the zero value, gives the
// behaviour of Open.
type Options struct {
	// Logger, if non-nil, receives a warning when Open drops a torn record
	// from the end of the log (a write that was interrupted by a crash and
	// whose Put therefore never returned) and when a compaction fails and
	// is postponed, and a debug message after each compaction. Nothing
	// else is logged.
	Logger *slog.Logger

	// compactMin overrides defaultCompactMin; tests lower it.
	compactMin int64
}

// Open opens, or creates, the durable store in directory dir (created if
// missing) and is OpenWith(dir, nil).
//
// It blocks on disk I/O while it replays the log to rebuild the index and,
// when the log has grown well beyond the live data, compacts it. It does not
// wait for a directory locked by someone else but fails at once. Each later Put, Delete and Reset blocks until its record is written and
// fsynced, so that when it returns the change survives kill -9 and power loss
// as far as fsync promises; concurrent calls share one write and one fsync
// (group commit). Values stay on disk and are read back by Load, so the store
// does not keep a copy of the session in memory.
//
// A torn record at the end of the log is dropped. Damage followed by intact
// records makes Open fail with an error wrapping ErrCorrupt; a directory that
// is already open fails with an error wrapping ErrLocked.
//
// After a write or fsync error the store fails every later call with that
// error, because the state of the file is no longer known; Close it and
// Open the directory again.
func Open(dir string) (Store, error) { return OpenWith(dir, nil) }

// OpenWith is Open with options; see Options. It blocks like Open.
func OpenWith(dir string, opts *Options) (Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.compactMin <= 0 {
		o.compactMin = defaultCompactMin
	}
	if err := ensureDir(dir); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			// ENOSYS: a web browser, under GOOS=js.
			err = fmt.Errorf("%w: this platform has no file system for a durable store; use NewMemory, or a Store of your own", err)
		}
		return nil, err
	}
	lock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, err
	}
	s := &fileStore{
		dir:        dir,
		path:       filepath.Join(dir, logName),
		logger:     o.Logger,
		compactMin: o.compactMin,
		lock:       lock,
		exited:     make(chan struct{}),
		idx:        [2]map[uint16]loc{{}, {}},
		batch:      1,
	}
	if err := s.open(); err != nil {
		if s.f != nil {
			s.f.Close()
		}
		lock.Close()
		return nil, err
	}
	s.work.L = &s.mu
	s.space.L = &s.mu
	s.done[0].L = &s.mu
	s.done[1].L = &s.mu
	s.pending = make([]byte, frameHdr, 4096)
	go s.commitLoop()
	return s, nil
}

// ensureDir creates dir if it does not exist and makes its entry durable.
func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("persist: %s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("persist: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return fmt.Errorf("persist: syncing parent of %s: %w", dir, err)
	}
	return nil
}

// loc is where the live value of one key is and where it sits in the order.
type loc struct {
	seq uint64 // position in first-Put order; smaller is earlier
	off int64  // file offset of the value
	n   uint32 // length of the value
}

// fileStore is the Store returned by Open.
//
// Callers append encoded records to pending under mu and wait; the committer
// goroutine takes the whole pending buffer, writes it as one frame, fsyncs,
// applies it to the index and wakes the callers of that batch. Only the
// committer writes the file, changes f, size or idx, and it does so under mu
// except for the write and fsync themselves.
type fileStore struct {
	dir, path  string
	logger     *slog.Logger
	compactMin int64
	lock       io.Closer
	exited     chan struct{} // closed when the committer returns

	mu sync.Mutex
	// work wakes the committer when pending gets its first record or the
	// store is closed. space wakes callers waiting for room in pending.
	// done[b&1] wakes the callers of batch b; alternating two conditions
	// means a commit never wakes callers of the next batch.
	work, space sync.Cond
	done        [2]sync.Cond
	pending     []byte // frame being filled: frameHdr bytes reserved, then records
	spare       []byte // buffer for the next pending
	batch       uint64 // number of the batch in pending; starts at 1
	durable     uint64 // highest batch number written and fsynced
	failed      error  // sticky write, fsync or rename failure
	closed      bool

	f            *os.File
	size         int64 // length of the valid log
	idx          [2]map[uint16]loc
	live         [2]int64 // record bytes of the live values, per direction
	nextSeq      uint64
	compactAfter int64 // after a failed compaction, no retry until size exceeds this
}

// corrupt builds the error for damage at offset off.
func (s *fileStore) corrupt(off int64, why string) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, s.path, off, why)
}

// open loads the existing log or creates an empty one. It runs before the
// committer starts, so it needs no lock.
func (s *fileStore) open() error {
	tmp := filepath.Join(s.dir, tmpName)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("persist: removing leftover %s: %w", tmp, err)
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := s.rewrite(); err != nil {
			return fmt.Errorf("persist: creating %s: %w", s.path, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	s.f = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	end, why, err := s.replay(fi.Size())
	if err != nil {
		return err
	}
	s.size = end
	if end < fi.Size() {
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("persist: truncating torn tail of %s: %w", s.path, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("persist: %w", err)
		}
		s.logger.Warn("persist: dropped a torn record from the end of the session log",
			"file", s.path, "offset", end, "bytes", fi.Size()-end, "reason", why)
	}
	s.maybeCompact()
	return s.failed
}

// replay reads the log of the given size into the index. It returns the
// length of the valid prefix; when that is shorter than size, the rest is a
// torn tail and why says what was wrong with it.
func (s *fileStore) replay(size int64) (end int64, why string, err error) {
	var magic [fileHdr]byte
	if size < fileHdr {
		return 0, "", s.corrupt(0, "file is shorter than its header")
	}
	if _, err := s.f.ReadAt(magic[:], 0); err != nil {
		return 0, "", fmt.Errorf("persist: reading %s: %w", s.path, err)
	}
	if string(magic[:]) != fileMagic {
		return 0, "", s.corrupt(0, "not a culex session log (bad magic)")
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, fileHdr, size-fileHdr), 256<<10)
	var hdr [frameHdr]byte
	var body []byte
	off := fileHdr
	for off < size {
		if size-off < frameHdr {
			return off, "incomplete frame header", nil
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, "", fmt.Errorf("persist: reading %s: %w", s.path, err)
		}
		n, ok := parseFrameHdr(hdr[:])
		if !ok {
			// The length cannot be trusted, so the frame boundary is
			// unknown. It is a torn tail only if nothing intact follows.
			next, err := scanForFrame(s.f, off+1, size)
			if err != nil {
				return 0, "", fmt.Errorf("persist: reading %s: %w", s.path, err)
			}
			if next >= 0 {
				return 0, "", s.corrupt(off, fmt.Sprintf("damaged frame header, intact frame follows at offset %d", next))
			}
			return off, "damaged frame header", nil
		}
		frameEnd := off + frameHdr + int64(n)
		if frameEnd > size {
			return off, "frame extends past the end of the file", nil
		}
		body = slices.Grow(body[:0], int(n))[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, "", fmt.Errorf("persist: reading %s: %w", s.path, err)
		}
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(hdr[8:]) {
			if frameEnd == size {
				return off, "checksum mismatch in the last frame", nil
			}
			// Each frame is fsynced before the next one is written, so
			// a damaged frame with data after it was once intact.
			return 0, "", s.corrupt(off, "frame checksum mismatch")
		}
		if err := s.apply(body, off+frameHdr); err != nil {
			return 0, "", s.corrupt(off, err.Error())
		}
		off = frameEnd
	}
	return off, "", nil
}

// parseFrameHdr returns the body length of the frame header h and whether
// the header is intact and the length plausible.
func parseFrameHdr(h []byte) (uint32, bool) {
	n := binary.LittleEndian.Uint32(h[0:])
	if crc32.Checksum(h[0:4], castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return 0, false
	}
	return n, n >= recHdr && n <= maxFrameBody
}

// sealFrame fills in the header reserved at the start of buf.
func sealFrame(buf []byte) {
	body := buf[frameHdr:]
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[0:4], castagnoli))
	binary.LittleEndian.PutUint32(buf[8:], crc32.Checksum(body, castagnoli))
}

// appendRecord encodes one record.
func appendRecord(buf []byte, op byte, dir Direction, id uint16, data []byte) []byte {
	buf = append(buf, op, byte(dir), 0, 0, 0, 0, 0, 0)
	h := buf[len(buf)-recHdr:]
	binary.LittleEndian.PutUint16(h[2:], id)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(data)))
	return append(buf, data...)
}

// scanForFrame returns the offset of the first intact frame that starts in
// [from, size), or -1. It is used only to tell a torn tail from damage in
// the middle of the log, so its byte-by-byte search costs nothing in normal
// operation.
func scanForFrame(f *os.File, from, size int64) (int64, error) {
	const window = 1 << 20
	buf := make([]byte, window+frameHdr)
	var body []byte
	for start := from; start+frameHdr <= size; start += window {
		b := buf[:min(int64(len(buf)), size-start)]
		if _, err := f.ReadAt(b, start); err != nil {
			return -1, err
		}
		for i := 0; i < window && i+frameHdr <= len(b); i++ {
			n, ok := parseFrameHdr(b[i:])
			pos := start + int64(i)
			if !ok || pos+frameHdr+int64(n) > size {
				continue
			}
			body = slices.Grow(body[:0], int(n))[:n]
			if _, err := f.ReadAt(body, pos+frameHdr); err != nil {
				return -1, err
			}
			if crc32.Checksum(body, castagnoli) == binary.LittleEndian.Uint32(b[i+8:]) {
				return pos, nil
			}
		}
	}
	return -1, nil
}

// apply applies the records of one frame body, whose first byte is at file
// offset base, to the index. It fails only on records that no version of
// this package writes.
func (s *fileStore) apply(body []byte, base int64) error {
	for p := 0; p < len(body); {
		if len(body)-p < recHdr {
			return fmt.Errorf("truncated record at offset %d", base+int64(p))
		}
		op, dir := body[p], Direction(body[p+1])
		id := binary.LittleEndian.Uint16(body[p+2:])
		n := binary.LittleEndian.Uint32(body[p+4:])
		if !dir.valid() {
			return fmt.Errorf("record at offset %d has invalid direction %d", base+int64(p), dir)
		}
		if uint64(n) > uint64(len(body)-p-recHdr) {
			return fmt.Errorf("record at offset %d overruns its frame", base+int64(p))
		}
		if op != opPut && n != 0 {
			return fmt.Errorf("record at offset %d of type %d carries data", base+int64(p), op)
		}
		d := s.idx[dir-1]
		switch op {
		case opPut:
			l, ok := d[id]
			if ok {
				s.live[dir-1] -= recHdr + int64(l.n)
			} else {
				l.seq = s.nextSeq
				s.nextSeq++
			}
			l.off, l.n = base+int64(p+recHdr), n
			d[id] = l
			s.live[dir-1] += recHdr + int64(n)
		case opDelete:
			if l, ok := d[id]; ok {
				s.live[dir-1] -= recHdr + int64(l.n)
				delete(d, id)
			}
		case opReset:
			clear(d)
			s.live[dir-1] = 0
		default:
			return fmt.Errorf("record at offset %d has unknown type %d", base+int64(p), op)
		}
		p += recHdr + int(n)
	}
	return nil
}

// maybeCompact rewrites the log when it has grown well beyond the live data.
// Called with mu held (or before the committer starts).
func (s *fileStore) maybeCompact() {
	if s.size <= s.compactMin || s.size <= s.compactAfter ||
		s.size <= compactRatio*(fileHdr+s.live[0]+s.live[1]) {
		return
	}
	before := s.size
	renamed, err := s.rewrite()
	switch {
	case err == nil:
		s.compactAfter = 0
		s.logger.Debug("persist: compacted the session log", "file", s.path, "before", before, "after", s.size)
	case renamed:
		// The new file is in place but its name may not be durable:
		// records appended now could vanish with it after a power loss.
		s.fail(fmt.Errorf("persist: syncing %s after compaction: %w", s.dir, err))
	default:
		// The old log is untouched; carry on and retry later.
		s.compactAfter = 2 * before
		s.logger.Warn("persist: compaction failed; retrying when the log has doubled",
			"file", s.path, "size", before, "error", err)
	}
}

// rewrite writes the live values in first-Put order to a fresh file, fsyncs
// it, renames it over the log and fsyncs the directory, then switches the
// store to it. renamed reports whether the rename happened (after which the
// store uses the new file even if err is non-nil). Called with mu held (or
// before the committer starts).
func (s *fileStore) rewrite() (renamed bool, err error) {
	tmp := filepath.Join(s.dir, tmpName)
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	defer func() {
		if !renamed {
			nf.Close()
			os.Remove(tmp)
		}
	}()

	type item struct {
		dir Direction
		id  uint16
		loc loc
	}
	var items []item
	var idx [2]map[uint16]loc
	for i := range s.idx {
		idx[i] = make(map[uint16]loc, len(s.idx[i]))
		for id, l := range s.idx[i] {
			items = append(items, item{Direction(i + 1), id, l})
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		if a.loc.seq < b.loc.seq {
			return -1
		}
		return 1
	})

	if _, err := nf.Write([]byte(fileMagic)); err != nil {
		return false, err
	}
	size := fileHdr
	buf := make([]byte, frameHdr, 64<<10)
	flush := func() error {
		if len(buf) == frameHdr {
			return nil
		}
		sealFrame(buf)
		if _, err := nf.Write(buf); err != nil {
			return err
		}
		size += int64(len(buf))
		buf = buf[:frameHdr]
		return nil
	}
	for i, it := range items {
		n := int(it.loc.n)
		if len(buf) > frameHdr && len(buf)-frameHdr+recHdr+n > batchCap {
			if err := flush(); err != nil {
				return false, err
			}
		}
		buf = appendRecord(buf, opPut, it.dir, it.id, nil)
		binary.LittleEndian.PutUint32(buf[len(buf)-4:], uint32(n))
		start := len(buf)
		buf = slices.Grow(buf, n)[:start+n]
		if _, err := s.f.ReadAt(buf[start:], it.loc.off); err != nil {
			return false, fmt.Errorf("reading %s: %w", s.path, err)
		}
		idx[it.dir-1][it.id] = loc{seq: uint64(i), off: size + int64(start), n: it.loc.n}
	}
	if err := flush(); err != nil {
		return false, err
	}
	if err := nf.Sync(); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return false, err
	}
	renamed = true
	// An *os.File names the path it was opened by in its errors, and
	// tmpName no longer exists: go on with the log under its own name.
	// Should that fail (out of descriptors), nf still works.
	if f, err := os.OpenFile(s.path, os.O_RDWR, 0); err == nil {
		nf.Close()
		nf = f
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.size, s.idx, s.nextSeq = nf, size, idx, uint64(len(items))
	return true, syncDir(s.dir)
}

// fail makes err sticky and wakes everyone who waits. Called with mu held.
func (s *fileStore) fail(err error) {
	if s.failed == nil {
		s.failed = err
	}
	s.done[0].Broadcast()
	s.done[1].Broadcast()
	s.space.Broadcast()
}

// commitLoop is the committer goroutine; it returns once the store is closed
// and every accepted record has been written.
func (s *fileStore) commitLoop() {
	defer close(s.exited)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for len(s.pending) == frameHdr && !s.closed {
			s.work.Wait()
		}
		if len(s.pending) == frameHdr {
			return // closed and drained
		}
		buf, b := s.pending, s.batch
		s.pending, s.spare = s.spare, nil
		if s.pending == nil {
			s.pending = make([]byte, frameHdr, 4096)
		}
		s.batch++
		s.space.Broadcast()
		if s.failed != nil {
			s.fail(s.failed) // wake the callers of b
			s.spare = buf[:frameHdr]
			continue
		}

		off := s.size
		s.mu.Unlock()
		sealFrame(buf)
		_, err := s.f.WriteAt(buf, off)
		if err == nil {
			err = s.f.Sync()
		}
		s.mu.Lock()

		if err != nil {
			s.fail(fmt.Errorf("persist: writing %s: %w", s.path, err))
		} else {
			s.size += int64(len(buf))
			if err := s.apply(buf[frameHdr:], off+frameHdr); err != nil {
				panic("persist: applying own record: " + err.Error())
			}
			s.durable = b
			s.done[b&1].Broadcast()
			s.maybeCompact()
		}
		if cap(buf) <= maxSpareCap {
			s.spare = buf[:frameHdr]
		}
	}
}

// submit queues one record and waits until it is durable.
func (s *fileStore) submit(op byte, dir Direction, id uint16, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.addLocked(op, dir, id, data)
	if err != nil {
		return err
	}
	return s.waitLocked(b)
}

// Apply queues the records of every change, in order, and waits until the
// last is durable: changes that fit one batch cost one write and one sync.
func (s *fileStore) Apply(changes []Change) error {
	if err := checkChanges(changes); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b uint64
	for _, ch := range changes {
		var op byte = opPut
		if ch.Delete {
			op = opDelete
		}
		var err error
		if b, err = s.addLocked(op, ch.Dir, ch.ID, ch.Data); err != nil {
			return err
		}
	}
	return s.waitLocked(b)
}

// addLocked appends one record to the pending batch, waiting for room, and
// returns the number of the batch it is in.
func (s *fileStore) addLocked(op byte, dir Direction, id uint16, data []byte) (uint64, error) {
	need := recHdr + len(data)
	for {
		if s.closed {
			return 0, ErrClosed
		}
		if s.failed != nil {
			return 0, s.failed
		}
		if len(s.pending) == frameHdr || len(s.pending)-frameHdr+need <= batchCap {
			break
		}
		s.space.Wait()
	}
	s.pending = appendRecord(s.pending, op, dir, id, data)
	if len(s.pending) == frameHdr+need {
		s.work.Signal() // first record of the batch
	}
	return s.batch, nil
}

// waitLocked waits until batch b is durable.
func (s *fileStore) waitLocked(b uint64) error {
	for s.durable < b && s.failed == nil {
		s.done[b&1].Wait()
	}
	if s.durable >= b {
		return nil
	}
	return s.failed
}

func (s *fileStore) Put(dir Direction, id uint16, data []byte) error {
	if err := checkPut(dir, len(data)); err != nil {
		return err
	}
	return s.submit(opPut, dir, id, data)
}

func (s *fileStore) Delete(dir Direction, id uint16) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	return s.submit(opDelete, dir, id, nil)
}

func (s *fileStore) Reset(dir Direction) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	return s.submit(opReset, dir, 0, nil)
}

func (s *fileStore) Load(dir Direction) ([]Entry, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.failed != nil {
		return nil, s.failed
	}
	type item struct {
		id  uint16
		loc loc
	}
	d := s.idx[dir-1]
	items := make([]item, 0, len(d))
	total := 0
	for id, l := range d {
		items = append(items, item{id, l})
		total += int(l.n)
	}
	slices.SortFunc(items, func(a, b item) int {
		if a.loc.seq < b.loc.seq {
			return -1
		}
		return 1
	})
	// One backing array for all copies; each Data is capped so appending
	// to it cannot overwrite its neighbour.
	buf := make([]byte, total)
	out := make([]Entry, len(items))
	pos := 0
	for i, it := range items {
		v := buf[pos : pos+int(it.loc.n) : pos+int(it.loc.n)]
		if _, err := s.f.ReadAt(v, it.loc.off); err != nil {
			return nil, fmt.Errorf("persist: reading %s: %w", s.path, err)
		}
		out[i] = Entry{ID: it.id, Data: v}
		pos += int(it.loc.n)
	}
	return out, nil
}

func (s *fileStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.work.Signal()
	s.space.Broadcast()
	s.mu.Unlock()

	<-s.exited
	err := s.f.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	s.mu.Lock()
	s.idx = [2]map[uint16]loc{}
	s.pending, s.spare = nil, nil
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("persist: closing %s: %w", s.dir, err)
	}
	return nil
}
