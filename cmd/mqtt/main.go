// Command mqtt publishes, subscribes and measures an MQTT broker from the
// command line, in the manner of MQTT.js's `mqtt pub` and `mqtt sub` and of
// mosquitto_pub and mosquitto_sub:
//
//	mqtt pub -t sensors/1 -m 21.5 -q 1
//	mqtt sub -t 'sensors/#' -v -C 10
//	mqtt bench -q 1 -n 10000
//
// Run "mqtt help" or "mqtt <command> -help" for the flags.
//
// Exit status: 0 on success, 1 when the broker or the network failed the
// command (the reason is one line on stderr), 2 for a mistake on the command
// line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal the commands disconnect cleanly; restoring the
	// default handling lets a second ^C kill a disconnect that hangs.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a command reads and writes: the process's streams, or a test's
// buffers, so that tests run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one subcommand of mqtt.
type command struct {
	name    string
	summary string
	// synopsis is the one-line usage shown after a command-line mistake.
	synopsis string
	// usage is the full help text, printed by -help.
	usage string
	// flags builds the command's flag set and returns it with the function
	// that runs the command once the flags are parsed. A fresh set per run
	// keeps run free of global state, so tests can call it concurrently.
	flags func() (*flag.FlagSet, func(ctx context.Context, e *env, fs *flag.FlagSet) error)
}

// commands lists the subcommands in the order "mqtt help" shows them.
var commands = []*command{pubCommand, subCommand, benchCommand}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake on the command line: exit status 2, and the
// command's synopsis after the message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run runs the command line args (without the program name) and returns the
// exit status. ctx ends when the process is asked to stop (SIGINT, SIGTERM).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage())
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			c := lookup(args[1])
			if c == nil {
				fmt.Fprintf(stderr, "mqtt help: unknown command %q\n\n%s", args[1], mainUsage())
				return 2
			}
			fmt.Fprint(stdout, c.usage)
			return 0
		}
		fmt.Fprint(stdout, mainUsage())
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "mqtt: unknown command %q\n\n%s", name, mainUsage())
		return 2
	}
	err := runCommand(ctx, c, e, args[1:])
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, c.usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mqtt %s: %s\nusage: %s\nRun 'mqtt %s -help' for the flags.\n", c.name, ue.msg, c.synopsis, c.name)
		return 2
	default:
		fmt.Fprintf(stderr, "mqtt %s: %s\n", c.name, oneLine(err))
		return 1
	}
}

// runCommand parses args with c's flags and runs c.
func runCommand(ctx context.Context, c *command, e *env, args []string) error {
	if wantsHelp(args) {
		return flag.ErrHelp
	}
	fs, runFn := c.flags()
	// The flag package would print its own error and an unsorted list of
	// every alias; run prints the message and a synopsis instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; flags come before it, or quote it", fs.Arg(0))
	}
	return runFn(ctx, e, fs)
}

// wantsHelp reports whether args ask for help. -h means the host, as in
// MQTT.js and mosquitto, so it asks for help only when no value follows it:
// "mqtt pub -h" alone, or "-h -t x", which would otherwise connect to the
// host "-t".
func wantsHelp(args []string) bool {
	for i, a := range args {
		switch a {
		case "--":
			return false
		case "-help", "--help", "-?":
			return true
		case "-h", "--h":
			if i == len(args)-1 || strings.HasPrefix(args[i+1], "-") {
				return true
			}
		}
	}
	return false
}

// oneLine makes err one line: joined errors (one per server tried) are
// separated by "; ", and the "mqtt: " prefix of the library's errors is
// dropped, since the command's name already leads the line.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(strings.TrimSpace(l), "mqtt: ")
	}
	return strings.Join(lines, "; ")
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString("mqtt is an MQTT client for the command line.\n\nusage: mqtt <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-6s %s\n", c.name, c.summary)
	}
	b.WriteString("  help   show this help, or a command's: mqtt help <command>\n")
	b.WriteString("\nRun 'mqtt <command> -help' for a command's flags.\n")
	return b.String()
}
