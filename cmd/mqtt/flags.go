package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// origin says which of the command-line tools people already know a flag
// follows. The help shows it, so that the rule the flags keep can be
// checked by reading: a short flag that mosquitto_pub, mosquitto_sub or
// mosquitto_rr defines means the same here, and a long name is accepted in
// mosquitto's spelling and in MQTT.js's.
type origin uint8

const (
	ownFlag       origin = 0
	mosquittoFlag origin = 1
	mqttjsFlag    origin = 2
	bothFlag             = mosquittoFlag | mqttjsFlag
)

// tag is the origin as the help's column shows it.
func (o origin) tag() string {
	switch o {
	case mosquittoFlag:
		return "M"
	case mqttjsFlag:
		return "J"
	case bothFlag:
		return "MJ"
	}
	return ""
}

// originLegend explains the tags of origin.tag.
const originLegend = "M: as in mosquitto_pub/sub/rr    J: as in MQTT.js's mqtt pub/sub    unmarked: mqtt's own\n"

// flagSpec describes one flag and its aliases for the help.
type flagSpec struct {
	names  []string // one-letter names first, then the long ones
	arg    string   // what the value is, as the help shows it; "" for a switch
	help   string   // one paragraph; the help wraps it
	origin origin
}

// label is the flag's names and value as the help's first column shows
// them: "-t, --topic TOPIC".
func (s *flagSpec) label() string {
	var b strings.Builder
	if len(s.names[0]) > 1 {
		// Long names line up with the long names of the flags that
		// have a short one too.
		b.WriteString("    ")
	}
	for i, n := range s.names {
		if i > 0 {
			b.WriteString(", ")
		}
		if len(n) == 1 {
			b.WriteString("-")
		} else {
			b.WriteString("--")
		}
		b.WriteString(n)
	}
	if s.arg != "" {
		b.WriteString(" " + s.arg)
	}
	return b.String()
}

// flagGroup is a titled list of flags in the help.
type flagGroup struct {
	title string
	specs []*flagSpec
}

// flagSet is a flag.FlagSet that also records, for the help, each flag's
// aliases, value, meaning and origin. The help is written from it, so it
// cannot forget a flag.
type flagSet struct {
	*flag.FlagSet
	groups []*flagGroup
	byName map[string]*flagSpec

	// multi holds the flags that may take more than one argument, as
	// mosquitto's -D does ("-D publish user-property key value"): given
	// the arguments after the flag, the function returns how many belong
	// to it (0: just the one, for the flag package), or why they are
	// wrong. See preparse.
	multi map[string]func(args []string) (int, error)

	// hints explain a flag this command does not have but people may type
	// from habit, keyed by its name without dashes.
	hints map[string]string
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &flagSet{
		FlagSet: fs,
		byName:  make(map[string]*flagSpec),
		multi:   make(map[string]func([]string) (int, error)),
		hints:   make(map[string]string),
	}
}

// group starts a new titled group: the flags defined next belong to it.
func (s *flagSet) group(title string) {
	s.groups = append(s.groups, &flagGroup{title: title})
}

// define records spec and registers v under each of its names.
func (s *flagSet) define(v flag.Value, spec flagSpec) {
	if len(s.groups) == 0 {
		s.group("flags")
	}
	sp := &spec
	for _, n := range spec.names {
		s.Var(v, n, "")
		s.byName[n] = sp
	}
	g := s.groups[len(s.groups)-1]
	g.specs = append(g.specs, sp)
}

func (s *flagSet) stringVar(p *string, spec flagSpec) { s.define((*stringValue)(p), spec) }
func (s *flagSet) boolVar(p *bool, spec flagSpec)     { s.define((*boolValue)(p), spec) }
func (s *flagSet) intVar(p *int, spec flagSpec)       { s.define((*intValue)(p), spec) }

// isSet reports whether the flag named name, under any of its aliases, was
// given on the command line, so that an explicitly empty value (-m "")
// differs from none.
func (s *flagSet) isSet(name string) bool {
	spec := s.byName[name]
	set := false
	s.Visit(func(f *flag.Flag) {
		if s.byName[f.Name] == spec {
			set = true
		}
	})
	return set
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// preparse joins the arguments of a flag that takes several (see
// flagSet.multi) into one, each preceded by a NUL, which no argument of a
// process can hold, so that the flag package hands them to the flag's
// Value in the order of the command line. It walks the arguments as the
// flag package will, so that a value that looks like a flag (-m -D) stays a
// value.
func (s *flagSet) preparse(args []string) ([]string, error) {
	if len(s.multi) == 0 {
		return args, nil
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return append(out, args[i:]...), nil // the flag package stops here too
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if strings.Contains(name, "=") {
			out = append(out, a)
			continue
		}
		if fn, ok := s.multi[name]; ok {
			n, err := fn(args[i+1:])
			if err != nil {
				return nil, err
			}
			if n > 0 {
				out = append(out, a, multiSep+strings.Join(args[i+1:i+1+n], multiSep))
				i += n
				continue
			}
		}
		out = append(out, a)
		if f := s.Lookup(name); f != nil && !isBool(f.Value) && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out, nil
}

// multiSep precedes each of the arguments preparse joins.
const multiSep = "\x00"

func isBool(v flag.Value) bool {
	b, ok := v.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// usage writes the flag groups as the help shows them, wrapped to 80
// columns.
func (s *flagSet) usage(b *strings.Builder) {
	b.WriteString(originLegend)
	for _, g := range s.groups {
		fmt.Fprintf(b, "\n%s:\n", g.title)
		for _, sp := range g.specs {
			writeFlag(b, sp.label(), sp.origin.tag(), sp.help)
		}
	}
}

// Columns of the flag lists: the label, the origin tag, the text.
const (
	labelWidth = 31
	tagWidth   = 3
	textColumn = 2 + labelWidth + tagWidth
	lineWidth  = 80
)

// writeFlag writes one flag: its label and tag, then text wrapped in the
// last column; a label too wide for its column puts the text on the next
// line.
func writeFlag(b *strings.Builder, label, tag, text string) {
	lines := wrap(text, lineWidth-textColumn)
	head := fmt.Sprintf("  %-*s%-*s", labelWidth, label, tagWidth, tag)
	if len(label) >= labelWidth {
		fmt.Fprintf(b, "  %s  %s\n", label, tag)
		head = strings.Repeat(" ", textColumn)
	}
	for i, l := range lines {
		if i > 0 {
			head = strings.Repeat(" ", textColumn)
		}
		b.WriteString(strings.TrimRight(head+l, " "))
		b.WriteString("\n")
	}
	if len(lines) == 0 {
		b.WriteString(strings.TrimRight(head, " ") + "\n")
	}
}

// wrap splits text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// The flag values. The flag package's own are unexported; these let one
// Value serve every alias of a flag.

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "1", "t", "yes":
		*v = true
	case "false", "0", "f", "no":
		*v = false
	default:
		return fmt.Errorf("%q is not true or false", s)
	}
	return nil
}
func (v *boolValue) String() string   { return fmt.Sprint(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return fmt.Sprint(int(*v)) }
