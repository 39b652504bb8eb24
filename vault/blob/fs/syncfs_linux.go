package fs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the whole file system holding dir with syncfs(2): every
// file and directory written before the call is durable when it returns.
// It reports false if the call is not available.
func syncFS(dir string) (bool, error) {
	d, err := os.Open(dir)
	if err != nil {
		return true, err
	}
	defer d.Close()
	err = unix.Syncfs(int(d.Fd()))
	if errors.Is(err, unix.ENOSYS) {
		return false, nil
	}
	return true, err
}
