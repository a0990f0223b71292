//go:build unix && !js

package persist

import "os"

// syncDir fsyncs a directory so that files created or renamed in it survive
// power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
