package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/culex-mqtt/mqtt"
)

// propFlags holds the MQTT 5.0 properties given with -D, in mosquitto's
// form "-D command identifier value" (two values for user-property), and,
// for the commands that publish, in the short form "-D key=value" of a user
// property, and with the flags named after single properties
// (--content-type, ...).
type propFlags struct {
	// publishing is set for the commands that publish a message (pub,
	// req): they accept "-D publish ..." and "-D key=value".
	publishing bool

	publish   mqtt.Message // only its properties are used
	will      mqtt.Message // only its properties are used
	willDelay time.Duration

	connectUser        []mqtt.UserProperty
	receiveMaximum     uint16
	maximumPacketSize  int
	topicAliasMaximum  uint16
	requestResponse    bool
	noProblemInfo      bool
	sessionExpiry      string // as -x takes it; "" when not given
	sessionExpiryGiven bool

	// given is set once any property is, so that an explicit MQTT 3.x
	// version can be refused before connecting.
	given bool
}

// propCommands lists the first word of "-D command identifier value" that
// mosquitto knows; a word that is not one of them is a user property in the
// short form.
var propCommands = map[string]bool{
	"connect": true, "publish": true, "will": true, "subscribe": true, "unsubscribe": true,
	"disconnect": true, "auth": true, "puback": true, "pubrec": true, "pubrel": true, "pubcomp": true,
}

// addPropFlags defines -D (and, for commands that publish, the flags named
// after single PUBLISH properties) on s. req has its own -e,
// --response-topic, which also subscribes: responseTopic says whether to
// define the property's flag.
func addPropFlags(s *flagSet, publishing, responseTopic bool) *propFlags {
	p := &propFlags{publishing: publishing}
	s.group("MQTT 5.0 properties")
	help := "an MQTT 5.0 property, as mosquitto takes it: -D connect user-property KEY VALUE, " +
		"-D will content-type TYPE, ... (see 'mqtt help properties'); may be repeated"
	if publishing {
		help = "an MQTT 5.0 property: -D KEY=VALUE is a user property of the message; " +
			"-D publish user-property KEY VALUE, -D publish content-type TYPE, ... " +
			"take mosquitto's form (see 'mqtt help properties'); may be repeated"
	}
	s.define((*shortProp)(p), flagSpec{names: []string{"D", "property"}, arg: "PROP", origin: mosquittoFlag, help: help})
	s.multi["D"] = p.parseLong
	s.multi["property"] = p.parseLong
	if publishing {
		s.define(&durationProp{p: &p.publish.MessageExpiry, given: &p.given}, flagSpec{names: []string{"message-expiry"}, arg: "D",
			help: "MQTT 5.0: the message expires after D (10s, 1h, or seconds) if the broker cannot deliver it sooner"})
		s.define(&stringProp{p: &p.publish.ContentType, given: &p.given}, flagSpec{names: []string{"content-type"}, arg: "TYPE",
			help: "MQTT 5.0: the payload's content type, a MIME type"})
		s.define(&utf8Prop{p: &p.publish.PayloadFormat, given: &p.given}, flagSpec{names: []string{"payload-utf8"},
			help: "MQTT 5.0: say that the payload is UTF-8 text (payload format indicator 1)"})
		if responseTopic {
			s.define(&stringProp{p: &p.publish.ResponseTopic, given: &p.given}, flagSpec{names: []string{"response-topic"}, arg: "TOPIC",
				help: "MQTT 5.0: where a responder should answer"})
		}
		s.define(&bytesProp{p: &p.publish.CorrelationData, given: &p.given}, flagSpec{names: []string{"correlation-data"}, arg: "DATA",
			help: "MQTT 5.0: data the responder sends back with its answer"})
	}
	return p
}

// propertiesHelp is "mqtt help properties".
const propertiesHelp = `MQTT 5.0 properties with -D

-D takes mosquitto's form: -D COMMAND IDENTIFIER VALUE, with two values (key
and value) for user-property. mqtt supports these:

  -D connect user-property KEY VALUE      a user property of CONNECT
  -D connect session-expiry-interval S    as -x S
  -D connect receive-maximum N            at most N unacknowledged QoS 1/2
                                          messages from the broker at once
  -D connect maximum-packet-size BYTES    the largest packet we accept
  -D connect topic-alias-maximum N        topic aliases the broker may use
  -D connect request-response-information 1
  -D connect request-problem-information 0

  -D publish user-property KEY VALUE      (mqtt pub and mqtt req)
  -D publish content-type TYPE            as --content-type
  -D publish correlation-data DATA        as --correlation-data
  -D publish message-expiry-interval S    as --message-expiry
  -D publish payload-format-indicator 1   as --payload-utf8
  -D publish response-topic TOPIC         as --response-topic

  -D will user-property KEY VALUE         the same properties, of the will
  -D will content-type TYPE               (needs --will-topic)
  -D will correlation-data DATA
  -D will message-expiry-interval S
  -D will payload-format-indicator 1
  -D will response-topic TOPIC
  -D will will-delay-interval S           the broker waits S seconds before
                                          publishing the will

mqtt pub and mqtt req also take -D KEY=VALUE for a user property of the
message. Properties need MQTT 5.0: with -V 3.1 or 3.1.1 they are refused.
`

// parseLong reads "command identifier value [value]" after -D. It returns
// 0 when args do not start with a command, leaving the argument to the
// short form.
func (p *propFlags) parseLong(args []string) (int, error) {
	if len(args) == 0 || !propCommands[args[0]] {
		return 0, nil
	}
	cmd := args[0]
	if len(args) < 2 {
		return 0, usagef("-D %s needs an identifier and a value, as in -D %s user-property KEY VALUE", cmd, cmd)
	}
	ident := args[1]
	n := 1
	if ident == "user-property" {
		n = 2
	}
	if len(args) < 2+n {
		return 0, usagef("-D %s %s needs %d value(s)", cmd, ident, n)
	}
	// Check now, for a clear message; shortProp.Set applies it, in the
	// order of the command line.
	scratch := propFlags{publishing: p.publishing}
	if err := scratch.set(cmd, ident, args[2:2+n]); err != nil {
		return 0, err
	}
	return 2 + n, nil
}

// set applies one "-D cmd ident vals...".
func (p *propFlags) set(cmd, ident string, vals []string) error {
	bad := func(format string, args ...any) error {
		return usagef("-D %s %s: "+format, append([]any{cmd, ident}, args...)...)
	}
	seconds := func() (time.Duration, error) {
		n, err := strconv.ParseUint(vals[0], 10, 32)
		if err != nil {
			return 0, bad("%q is not a number of seconds", vals[0])
		}
		return time.Duration(n) * time.Second, nil
	}
	number := func(max uint64) (uint64, error) {
		n, err := strconv.ParseUint(vals[0], 10, 64)
		if err != nil || n > max {
			return 0, bad("%q is not a number from 0 to %d", vals[0], max)
		}
		return n, nil
	}
	switch cmd {
	case "publish", "will":
		if cmd == "publish" && !p.publishing {
			return bad("this command publishes no message")
		}
		m := &p.publish
		if cmd == "will" {
			m = &p.will
		}
		switch ident {
		case "user-property":
			m.UserProperties = append(m.UserProperties, mqtt.UserProperty{Key: vals[0], Value: vals[1]})
		case "content-type":
			m.ContentType = vals[0]
		case "correlation-data":
			m.CorrelationData = []byte(vals[0])
		case "response-topic":
			m.ResponseTopic = vals[0]
		case "message-expiry-interval":
			d, err := seconds()
			if err != nil {
				return err
			}
			m.MessageExpiry = d
		case "payload-format-indicator":
			n, err := number(1)
			if err != nil {
				return err
			}
			m.PayloadFormat = mqtt.PayloadFormat(n)
		case "will-delay-interval":
			if cmd != "will" {
				return bad("a will property; use -D will will-delay-interval")
			}
			d, err := seconds()
			if err != nil {
				return err
			}
			p.willDelay = d
		default:
			return bad("mqtt cannot set this property (see 'mqtt help properties')")
		}
	case "connect":
		switch ident {
		case "user-property":
			p.connectUser = append(p.connectUser, mqtt.UserProperty{Key: vals[0], Value: vals[1]})
		case "session-expiry-interval":
			p.sessionExpiry, p.sessionExpiryGiven = vals[0], true
		case "receive-maximum":
			n, err := number(65535)
			if err != nil || n == 0 {
				return bad("%q is not a number from 1 to 65535", vals[0])
			}
			p.receiveMaximum = uint16(n)
		case "maximum-packet-size":
			n, err := number(268435460)
			if err != nil || n == 0 {
				return bad("%q is not a packet size", vals[0])
			}
			p.maximumPacketSize = int(n)
		case "topic-alias-maximum":
			n, err := number(65535)
			if err != nil {
				return err
			}
			p.topicAliasMaximum = uint16(n)
		case "request-response-information":
			n, err := number(1)
			if err != nil {
				return err
			}
			p.requestResponse = n == 1
		case "request-problem-information":
			n, err := number(1)
			if err != nil {
				return err
			}
			p.noProblemInfo = n == 0
		default:
			return bad("mqtt cannot set this property (see 'mqtt help properties')")
		}
	default:
		return bad("mqtt cannot set %s properties (see 'mqtt help properties')", cmd)
	}
	return nil
}

// shortProp is -D's value: the short form KEY=VALUE, or mosquitto's as
// preparse passes it on.
type shortProp propFlags

func (v *shortProp) String() string { return "" }

func (v *shortProp) Set(s string) error {
	p := (*propFlags)(v)
	if long, ok := strings.CutPrefix(s, multiSep); ok {
		a := strings.Split(long, multiSep) // checked by parseLong
		p.given = true
		return p.set(a[0], a[1], a[2:])
	}
	if propCommands[s] {
		return fmt.Errorf("%q needs an identifier and a value after it, as in -D %s user-property KEY VALUE", s, s)
	}
	k, val, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		if p.publishing {
			return fmt.Errorf("%q: write a user property as KEY=VALUE, or a property as -D publish IDENTIFIER VALUE", s)
		}
		return fmt.Errorf("%q: write a property as -D connect IDENTIFIER VALUE or -D will IDENTIFIER VALUE", s)
	}
	if !p.publishing {
		return fmt.Errorf("%q: this command publishes no message; use -D connect user-property %s %s", s, k, val)
	}
	p.publish.UserProperties = append(p.publish.UserProperties, mqtt.UserProperty{Key: k, Value: val})
	p.given = true
	return nil
}

// The values of the flags named after one property. They note that a
// property was given.

type stringProp struct {
	p     *string
	given *bool
}

func (v *stringProp) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v *stringProp) Set(s string) error { *v.p, *v.given = s, true; return nil }

type bytesProp struct {
	p     *[]byte
	given *bool
}

func (v *bytesProp) String() string {
	if v.p == nil {
		return ""
	}
	return string(*v.p)
}
func (v *bytesProp) Set(s string) error { *v.p, *v.given = []byte(s), true; return nil }

type utf8Prop struct {
	p     *mqtt.PayloadFormat
	given *bool
}

func (v *utf8Prop) String() string   { return "false" }
func (v *utf8Prop) IsBoolFlag() bool { return true }
func (v *utf8Prop) Set(s string) error {
	var b boolValue
	if err := b.Set(s); err != nil {
		return err
	}
	if b {
		*v.p, *v.given = mqtt.PayloadUTF8, true
	}
	return nil
}

type durationProp struct {
	p     *time.Duration
	given *bool
}

func (v *durationProp) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}

func (v *durationProp) Set(s string) error {
	var d duration
	if err := d.Set(s); err != nil {
		return err
	}
	if d < 0 || d > 0 && time.Duration(d) < time.Second || time.Duration(d)%time.Second != 0 {
		return fmt.Errorf("%v: a message expiry is whole seconds, at least 1s", time.Duration(d))
	}
	*v.p, *v.given = time.Duration(d), true
	return nil
}

// checkStrings refuses property strings of m that cannot be sent: MQTT
// strings are UTF-8 without U+0000.
func checkStrings(what string, m *mqtt.Message) error {
	check := func(name, s string) error {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return usagef("%s %s %q is not UTF-8 text without U+0000", what, name, s)
		}
		return nil
	}
	if err := check("content type", m.ContentType); err != nil {
		return err
	}
	if err := check("response topic", m.ResponseTopic); err != nil {
		return err
	}
	for _, u := range m.UserProperties {
		if err := check("user property", u.Key+u.Value); err != nil {
			return err
		}
	}
	return nil
}
