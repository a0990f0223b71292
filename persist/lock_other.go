//go:build !darwin && !dragonfly && !freebsd && !linux && !netbsd && !openbsd

package persist

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Where syscall.Flock is missing, locking is best effort: it stops a second
// Open of the same directory in this process, but not in another process.
var (
	lockedMu sync.Mutex
	locked   = map[string]bool{}
)

// procLock releases the in-process lock when the lock file is closed.
type procLock struct {
	*os.File
	key string
}

func (l *procLock) Close() error {
	lockedMu.Lock()
	delete(locked, l.key)
	lockedMu.Unlock()
	return l.File.Close()
}

func lockDir(path string) (*procLock, error) {
	key, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("persist: locking %s: %w", path, err)
	}
	lockedMu.Lock()
	defer lockedMu.Unlock()
	if locked[key] {
		return nil, fmt.Errorf("%w: %s is locked", ErrLocked, path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("persist: opening lock file: %w", err)
	}
	locked[key] = true
	return &procLock{File: f, key: key}, nil
}
