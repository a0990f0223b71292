// Command mqtt publishes, subscribes, sends requests to and measures an
// MQTT broker from the command line. Its flags are those of mosquitto_pub,
// mosquitto_sub and mosquitto_rr, with the long names of MQTT.js's mqtt pub
// and mqtt sub accepted too:
//
//	mqtt pub -t sensors/1 -m 21.5 -q 1
//	mqtt sub -t 'sensors/#' -v -C 10
//	mqtt req -t services/time -m now -W 5
//	mqtt bench -q 1 -C 10000
//
// Run "mqtt help" for the commands and every flag, and "mqtt help
// <command>" for one command's.
//
// Exit status: 0 on success, 1 when the broker or the network failed the
// command (the reason is one line on stderr), 2 for a mistake on the command
// line, found before connecting.
//
// Install it with
//
//	go install github.com/culex-mqtt/mqtt/cmd/mqtt@latest
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal the commands disconnect cleanly; restoring the
	// default handling lets a second ^C kill a disconnect that hangs.
	context.AfterFunc(ctx, stop)
	e := &env{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		lookupEnv: os.LookupEnv,
		terminal:  isTerminal(os.Stderr),
	}
	code := e.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// env is what a command reads and writes: the process's streams and
// environment, or a test's, so that tests run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	// terminal tells whether stderr is a terminal, where bench may draw a
	// progress line.
	terminal bool

	// Set while a command runs.
	command string        // its name, for messages
	quiet   bool          // --quiet: no error messages
	errw    *lockedWriter // stderr, for the client's goroutines too
}

// errWriter returns stderr, safe for the client's goroutines to write to
// while the command does.
func (e *env) errWriter() io.Writer { return e.errw }

// warnf writes a line to stderr, unless --quiet.
func (e *env) warnf(format string, args ...any) {
	if e.quiet {
		return
	}
	fmt.Fprintf(e.errWriter(), "mqtt %s: %s\n", e.command, fmt.Sprintf(format, args...))
}

// isTerminal reports whether f looks like a terminal: a character device.
// (/dev/null is one too; what is drawn there is lost, harmlessly.)
func isTerminal(f *os.File) bool {
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// command is one subcommand of mqtt.
type command struct {
	name    string
	summary string
	// synopsis is the one-line usage shown after a command-line mistake.
	synopsis string
	// intro is the help's description, before the flags.
	intro string
	// flags builds the command's flag set and returns it with the function
	// that runs the command once the flags are parsed. A fresh set per run
	// keeps run free of global state, so tests can call it concurrently.
	flags func() (*flagSet, func(ctx context.Context, e *env) error)
}

// usage returns the command's full help.
func (c *command) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n%s\n\n", c.synopsis, c.intro)
	fs, _ := c.flags()
	fs.usage(&b)
	return b.String()
}

// commands lists the subcommands in the order "mqtt help" shows them.
var commands = []*command{pubCommand, subCommand, reqCommand, benchCommand}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// topics are the help pages that are not commands.
var topics = map[string]string{
	"format":     formatHelp,
	"properties": propertiesHelp,
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
func (e *env) run(ctx context.Context, args []string) int {
	// Made before any goroutine may write to it.
	e.errw = &lockedWriter{w: e.stderr}
	if len(args) == 0 {
		fmt.Fprint(e.stderr, mainUsage())
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help", "-H":
		if len(args) > 1 && name == "help" {
			if c := lookup(args[1]); c != nil {
				fmt.Fprint(e.stdout, c.usage())
				return 0
			}
			if t, ok := topics[args[1]]; ok {
				fmt.Fprint(e.stdout, t)
				return 0
			}
			fmt.Fprintf(e.stderr, "mqtt help: no command or topic %q\n\n%s", args[1], mainUsage())
			return 2
		}
		fmt.Fprint(e.stdout, mainUsage())
		fmt.Fprint(e.stdout, "\n"+flagTable())
		return 0
	case "version", "-version", "--version":
		fmt.Fprint(e.stdout, versionLine())
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "mqtt: unknown command %q\n\n%s", name, mainUsage())
		return 2
	}
	e.command = c.name
	err := runCommand(ctx, c, e, args[1:])
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(e.stdout, c.usage())
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "mqtt %s: %s\nusage: %s\nRun 'mqtt help %s' for the flags.\n", c.name, ue.msg, c.synopsis, c.name)
		return 2
	default:
		if !e.quiet {
			fmt.Fprintf(e.errWriter(), "mqtt %s: %s\n", c.name, oneLine(err))
		}
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
	args, err := fs.preparse(args)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			if h := fs.hints[strings.TrimLeft(name, "-")]; h != "" {
				msg += "; " + h
			}
		}
		return &usageError{msg: msg}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; flags come before it, or quote it", fs.Arg(0))
	}
	return runFn(ctx, e)
}

// wantsHelp reports whether args ask for help. -h means the host, as in
// MQTT.js and mosquitto, so it asks for help only when no value follows it:
// "mqtt pub -h" alone, or "-h -t x", which would otherwise connect to the
// host "-t". -H is MQTT.js's help.
func wantsHelp(args []string) bool {
	for i, a := range args {
		switch a {
		case "--":
			return false
		case "-help", "--help", "-?", "-H":
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
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("  version  print the version of mqtt\n")
	b.WriteString("  help     this help; mqtt help <command> for a command's flags,\n")
	b.WriteString("           mqtt help format for -F, mqtt help properties for -D\n")
	b.WriteString("\nExit status: 0 ok, 1 failure, 2 a mistake on the command line.\n")
	return b.String()
}

// flagTable lists every flag of every command with the tool it follows,
// for "mqtt help".
func flagTable() string {
	type row struct {
		spec *flagSpec
		cmds []string
	}
	var rows []*row
	byLabel := make(map[string]*row)
	for _, c := range commands {
		fs, _ := c.flags()
		for _, g := range fs.groups {
			for _, sp := range g.specs {
				r := byLabel[sp.label()]
				if r == nil {
					r = &row{spec: sp}
					byLabel[sp.label()] = r
					rows = append(rows, r)
				}
				r.cmds = append(r.cmds, c.name)
			}
		}
	}
	// Short flags first, in alphabetical order, as people look them up;
	// then the long-only ones.
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].spec.names[0], rows[j].spec.names[0]
		if (len(a) == 1) != (len(b) == 1) {
			return len(a) == 1
		}
		if la, lb := strings.ToLower(a), strings.ToLower(b); la != lb {
			return la < lb
		}
		return a > b // -c before -C
	})
	var b strings.Builder
	b.WriteString("flags, the tool each follows, and the commands that have it:\n" + originLegend + "\n")
	all := len(commands)
	for _, r := range rows {
		where := strings.Join(r.cmds, " ")
		if len(r.cmds) == all {
			where = "all"
		}
		writeFlag(&b, r.spec.label(), r.spec.origin.tag(), where)
	}
	return b.String()
}
