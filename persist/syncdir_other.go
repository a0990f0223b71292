//go:build !unix || js

package persist

// syncDir is a no-op where a directory cannot be opened and fsynced.
func syncDir(string) error { return nil }
