package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/term"
)

// PassphraseEnv is the environment variable that EnvOrPrompt reads the
// keyring passphrase from.
const PassphraseEnv = "MEDCHAIN_PASSPHRASE"

// EnvOrPrompt returns a PassphraseFunc for the CLI. If MEDCHAIN_PASSPHRASE
// is set, its value is the passphrase and nothing is prompted (set but empty
// is an error). Otherwise it prompts on standard error and reads from the
// terminal on standard input without echo, asking twice and requiring both
// to match when confirm is true. If standard input is not a terminal it
// returns an error telling the user to set MEDCHAIN_PASSPHRASE.
//
// Environment variables can be read by other processes of the same user on
// some systems and end up in shell history; prefer the prompt interactively.
func EnvOrPrompt() PassphraseFunc {
	return envOrPrompt(os.LookupEnv, os.Stdin, os.Stderr)
}

func envOrPrompt(lookup func(string) (string, bool), in *os.File, out io.Writer) PassphraseFunc {
	return func(confirm bool) ([]byte, error) {
		if v, ok := lookup(PassphraseEnv); ok {
			if v == "" {
				return nil, fmt.Errorf("%s is set but empty: set it to the keyring passphrase, or unset it to be prompted", PassphraseEnv)
			}
			return []byte(v), nil
		}
		fd := int(in.Fd())
		if !term.IsTerminal(fd) {
			return nil, fmt.Errorf("the keyring passphrase is needed but standard input is not a terminal to prompt on; set %s", PassphraseEnv)
		}
		prompt := "Keyring passphrase: "
		if confirm {
			prompt = "New keyring passphrase: "
		}
		p, err := readPassword(fd, out, prompt)
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, errors.New("empty passphrase: the keyring needs a non-empty passphrase")
		}
		if confirm {
			again, err := readPassword(fd, out, "Repeat the passphrase: ")
			if err != nil {
				clear(p)
				return nil, err
			}
			same := bytes.Equal(p, again)
			clear(again)
			if !same {
				clear(p)
				return nil, errors.New("the two passphrases do not match; try again")
			}
		}
		return p, nil
	}
}

// readPassword prints prompt to out and reads a line from the terminal fd
// without echo. If the user interrupts it, the terminal state is restored
// before the interrupt is passed on, so the shell is not left without echo.
func readPassword(fd int, out io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(out, prompt)
	if state, err := term.GetState(fd); err == nil {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		done := make(chan struct{})
		defer func() {
			signal.Stop(sig)
			close(done)
		}()
		go func() {
			select {
			case s := <-sig:
				_ = term.Restore(fd, state)
				fmt.Fprintln(out)
				signal.Stop(sig)
				if p, err := os.FindProcess(os.Getpid()); err == nil {
					_ = p.Signal(s)
				}
			case <-done:
			}
		}()
	}
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(out)
	if err != nil {
		return nil, fmt.Errorf("reading passphrase: %w", err)
	}
	return p, nil
}
