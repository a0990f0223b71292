package persist

import (
	"slices"
	"sync"
)

// memStore is the Store returned by NewMemory.
type memStore struct {
	mu      sync.Mutex
	closed  bool
	nextSeq uint64
	dirs    [2]map[uint16]memEntry
}

// memEntry is one value with the sequence number that fixes its position.
type memEntry struct {
	seq  uint64
	data []byte
}

// NewMemory returns a Store that keeps everything in process memory, for
// clients that need no persistence across restarts (or for tests). Its
// methods block only on a mutex shared by the store, never on I/O, and its
// state is lost when the process exits.
func NewMemory() Store {
	return &memStore{dirs: [2]map[uint16]memEntry{{}, {}}}
}

func (m *memStore) Put(dir Direction, id uint16, data []byte) error {
	if err := checkPut(dir, len(data)); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.putLocked(dir, id, data)
	return nil
}

func (m *memStore) putLocked(dir Direction, id uint16, data []byte) {
	d := m.dirs[dir-1]
	e, ok := d[id]
	if !ok {
		e.seq = m.nextSeq
		m.nextSeq++
	}
	// The old buffer is never handed out (Load copies), so reuse it.
	e.data = append(e.data[:0], data...)
	d[id] = e
}

// Apply makes every change under one lock.
func (m *memStore) Apply(changes []Change) error {
	if err := checkChanges(changes); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, ch := range changes {
		if ch.Delete {
			delete(m.dirs[ch.Dir-1], ch.ID)
		} else {
			m.putLocked(ch.Dir, ch.ID, ch.Data)
		}
	}
	return nil
}

func (m *memStore) Delete(dir Direction, id uint16) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.dirs[dir-1], id)
	return nil
}

func (m *memStore) Load(dir Direction) ([]Entry, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	d := m.dirs[dir-1]
	type ordered struct {
		seq uint64
		id  uint16
	}
	keys := make([]ordered, 0, len(d))
	total := 0
	for id, e := range d {
		keys = append(keys, ordered{e.seq, id})
		total += len(e.data)
	}
	slices.SortFunc(keys, func(a, b ordered) int {
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	// One backing array for all copies; each Data is capped so appending to
	// it cannot overwrite its neighbour.
	buf := make([]byte, 0, total)
	out := make([]Entry, len(keys))
	for i, k := range keys {
		start := len(buf)
		buf = append(buf, d[k.id].data...)
		out[i] = Entry{ID: k.id, Data: buf[start:len(buf):len(buf)]}
	}
	return out, nil
}

func (m *memStore) Reset(dir Direction) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	clear(m.dirs[dir-1])
	return nil
}

func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		m.dirs = [2]map[uint16]memEntry{}
	}
	return nil
}
