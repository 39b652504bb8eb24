//go:build !linux

package fs

// syncFS is not available here: PutMany fsyncs each file and directory.
func syncFS(string) (bool, error) { return false, nil }
