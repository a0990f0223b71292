package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/culex-mqtt/mqtt"
)

// outputFlags say how sub and req print a message: the payload alone, as
// mosquitto_sub does; "topic payload" with -v; a line of -F's format; or a
// JSON object with --json.
type outputFlags struct {
	verbose bool
	noEOL   bool
	format  string
	json    bool
	pretty  bool

	// What resolve made of them.
	items []fmtItem // nil: no -F
}

// addOutputFlags defines the output flags on s.
func addOutputFlags(s *flagSet) *outputFlags {
	o := &outputFlags{}
	s.group("output")
	s.boolVar(&o.verbose, flagSpec{names: []string{"v", "verbose"}, origin: bothFlag,
		help: `print "topic payload" rather than the payload alone; an empty payload shows as (null)`})
	s.stringVar(&o.format, flagSpec{names: []string{"F", "format"}, arg: "FORMAT", origin: mosquittoFlag,
		help: "print each message as FORMAT says, as mosquitto_sub -F does: %t topic, %p payload, " +
			"%q QoS, %r retain, %l length, %x hex payload, %j JSON, ... (see 'mqtt help format')"})
	s.boolVar(&o.json, flagSpec{names: []string{"json"},
		help: "print each message as a JSON object on a line of its own: the time, topic, QoS, retain " +
			"flag, payload length, MQTT 5.0 properties and payload (as -F %j; see 'mqtt help format')"})
	s.boolVar(&o.pretty, flagSpec{names: []string{"pretty"}, origin: mosquittoFlag,
		help: "indent the JSON of --json, -F %j and -F %J over several lines"})
	s.boolVar(&o.noEOL, flagSpec{names: []string{"N", "no-eol"}, origin: mosquittoFlag,
		help: "do not end each message with a line ending"})
	return o
}

// resolve checks the output flags.
func (o *outputFlags) resolve() error {
	if o.json && o.format != "" {
		return usagef("--json and -F both set the output; --json is -F %%j")
	}
	if o.json {
		o.format = "%j"
	}
	if o.format == "" {
		if o.pretty {
			return usagef("--pretty is for JSON output: add --json")
		}
		return nil
	}
	if o.verbose && !o.json {
		return usagef("-F sets the whole line; -v adds nothing to it (use %%t)")
	}
	items, err := parseFormat(o.format)
	if err != nil {
		return usagef("-F %q: %s", o.format, err)
	}
	o.items = items
	return nil
}

// appendMessage appends m as the flags say, at time now, to dst. Like
// mosquitto_sub, without -F it prints nothing for an empty payload, and
// "topic (null)" with -v. The error, if any, is about one part of the line
// that could not be printed (%J of a payload that is not JSON); the rest
// is in dst.
func (o *outputFlags) appendMessage(dst []byte, m *mqtt.Message, now time.Time) ([]byte, error) {
	var err error
	switch {
	case o.items != nil:
		dst, err = appendFormatted(dst, o.items, m, now, o.pretty)
	case len(m.Payload) == 0:
		if o.verbose && !o.noEOL {
			dst = append(dst, m.Topic...)
			dst = append(dst, " (null)\n"...)
		}
		return dst, nil
	case o.verbose:
		dst = append(dst, m.Topic...)
		dst = append(dst, ' ')
		dst = append(dst, m.Payload...)
	default:
		dst = append(dst, m.Payload...)
	}
	if !o.noEOL {
		dst = append(dst, '\n')
	}
	return dst, err
}

// fmtItem is one piece of a parsed -F format: literal text, or a
// conversion with its flags.
type fmtItem struct {
	lit       string
	conv      byte // '%' conversions: 't', 'p', ...; '@' for a time field; 0 for lit
	timeField byte // the strftime letter of an '@' item
	left      bool // '-': align left
	zero      bool // '0': pad numbers with zeros
	width     int
	prec      int // -1: none
}

// formatHelp is "mqtt help format".
const formatHelp = `Output formats of mqtt sub and mqtt req

-F FORMAT prints each message as FORMAT says, followed by a line ending
(none with -N), as mosquitto_sub -F does:

  %t  topic                          %p  payload, as it is
  %q  QoS                            %r  retain flag: 1 or 0
  %l  payload length in bytes        %x  payload in hexadecimal (%X: upper case)
  %j  JSON of the message, payload   %J  the same, with the payload as JSON
      as a string (see below)            itself (an error if it is not)
  %I  time, ISO 8601                 %U  time, Unix seconds.nanoseconds
  %%  a literal %
  MQTT 5.0 properties, empty when absent:
  %C  content type                   %D  correlation data
  %E  message expiry, seconds        %F  payload format indicator
  %P  user properties, key:value     %R  response topic
      separated by spaces            %S  subscription identifier: mqtt
                                         sets none, so it is empty

  @X  the strftime field X of the time (@Y year, @m month, @d day, @H hour,
      @M minute, @S second, @z zone, ...); @N nanoseconds; @@ a literal @
  \n  line ending; also \t, \r, \0 (a NUL), \a, \e (escape), \v, \\

Between % and the letter, as in printf: - aligns left, 0 pads a number with
zeros, a number is the minimum width, .number the maximum width of %t, %C,
%R and %I. For %p, %x and %X the width is a minimum only (mosquitto 2.0
also cuts the payload to it).

mosquitto's %m (message ID) and %A (topic alias) are not available: the
client does not show them. An unknown conversion is an error.

--json, and -F %j, print one JSON object per message:

  {"tst":"2024-05-06T22:12:00.000000Z+0100","topic":"greeting","qos":0,
   "retain":0,"payloadlen":5,"properties":{...},"payload":"hello"}

"tst" is the time the message was printed; "properties" is there only with
MQTT 5.0 properties: "content-type", "correlation-data",
"message-expiry-interval", "payload-format-indicator", "response-topic",
"user-properties" (an object). A payload that is not UTF-8 text is an array
of its bytes' values; an empty one is null. --pretty indents the JSON.
`

// parseFormat parses a -F format. Unlike mosquitto, which prints nothing
// for what it does not know, it refuses an unknown conversion: a typo
// should not silently drop a field from every line.
func parseFormat(s string) ([]fmtItem, error) {
	var items []fmtItem
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			items = append(items, fmtItem{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			it := fmtItem{prec: -1}
			i++
			if i < len(s) && s[i] == '-' {
				it.left = true
				i++
			}
			if i < len(s) && s[i] == '0' {
				it.zero = true
				i++
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				it.width = it.width*10 + int(s[i]-'0')
				if it.width > 1<<16 {
					return nil, errorString("a field width over 65536")
				}
				i++
			}
			if i < len(s) && s[i] == '.' {
				i++
				it.prec = 0
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					it.prec = it.prec*10 + int(s[i]-'0')
					if it.prec > 1<<16 {
						return nil, errorString("a precision over 65536")
					}
					i++
				}
			}
			if i >= len(s) {
				return nil, errorString("it ends in the middle of a % conversion")
			}
			switch s[i] {
			case '%':
				lit.WriteByte('%')
				continue
			case 't', 'p', 'q', 'r', 'l', 'x', 'X', 'j', 'J', 'I', 'U', 'C', 'D', 'E', 'F', 'P', 'R', 'S':
				it.conv = s[i]
			case 'm', 'A':
				return nil, errorString("%" + string(s[i]) + " (" + map[byte]string{'m': "the message ID", 'A': "the topic alias"}[s[i]] + ") is not available")
			default:
				return nil, errorString("%" + string(rune(s[i])) + " is not a conversion mqtt knows (see 'mqtt help format')")
			}
			flush()
			items = append(items, it)
		case '@':
			i++
			if i >= len(s) {
				return nil, errorString("it ends with @; write @@ for an @")
			}
			if s[i] == '@' {
				lit.WriteByte('@')
				continue
			}
			if !strings.ContainsRune(strftimeFields, rune(s[i])) {
				return nil, errorString("@" + string(rune(s[i])) + " is not a time field mqtt knows (see 'mqtt help format')")
			}
			flush()
			items = append(items, fmtItem{conv: '@', timeField: s[i]})
		case '\\':
			i++
			if i >= len(s) {
				return nil, errorString(`it ends with \; write \\ for a \`)
			}
			e, ok := map[byte]byte{'\\': '\\', '0': 0, 'a': '\a', 'e': 0x1b, 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[s[i]]
			if !ok {
				return nil, errorString(`\` + string(rune(s[i])) + ` is not an escape mqtt knows; use \n, \t, \r, \0, \a, \e, \v or \\`)
			}
			lit.WriteByte(e)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return items, nil
}

// appendFormatted appends m as items say.
func appendFormatted(dst []byte, items []fmtItem, m *mqtt.Message, now time.Time, pretty bool) ([]byte, error) {
	var err error
	for _, it := range items {
		switch it.conv {
		case 0:
			dst = append(dst, it.lit...)
		case '@':
			dst = appendStrftime(dst, it.timeField, now)
		case 't':
			dst = padString(dst, m.Topic, it)
		case 'p':
			dst = padBytes(dst, m.Payload, it)
		case 'x':
			dst = padBytes(dst, []byte(hex.EncodeToString(m.Payload)), it)
		case 'X':
			dst = padBytes(dst, []byte(strings.ToUpper(hex.EncodeToString(m.Payload))), it)
		case 'q':
			dst = append(dst, '0'+byte(m.QoS))
		case 'r':
			dst = append(dst, "01"[btoi(m.Retain)])
		case 'l':
			dst = padInt(dst, len(m.Payload), true, it)
		case 'I':
			dst = padString(dst, now.Format("2006-01-02T15:04:05-0700"), it)
		case 'U':
			dst = strconv.AppendInt(dst, now.Unix(), 10)
			dst = append(dst, '.')
			dst = appendZeroPadded(dst, now.Nanosecond(), 9)
		case 'C':
			if m.ContentType != "" {
				dst = padString(dst, m.ContentType, it)
			} else {
				dst = appendRepeat(dst, ' ', it.width)
			}
		case 'D':
			dst = append(dst, m.CorrelationData...)
		case 'E':
			dst = padInt(dst, int(m.MessageExpiry/time.Second), m.MessageExpiry > 0, it)
		case 'F':
			dst = padInt(dst, int(m.PayloadFormat), m.PayloadFormat != 0, it)
		case 'S':
			// The library numbers its subscriptions itself, to route
			// messages (Message.SubscriptionIDs); those are not
			// identifiers the user chose, and mosquitto_sub, which
			// sets none, shows none.
			dst = padInt(dst, 0, false, it)
		case 'P':
			for i, u := range m.UserProperties {
				if i > 0 {
					dst = append(dst, ' ')
				}
				dst = append(dst, u.Key...)
				dst = append(dst, ':')
				dst = append(dst, u.Value...)
			}
		case 'R':
			if m.ResponseTopic != "" {
				dst = padString(dst, m.ResponseTopic, it)
			}
		case 'j':
			dst = appendJSON(dst, m, now, false, pretty)
		case 'J':
			if len(m.Payload) > 0 && !json.Valid(m.Payload) {
				// As mosquitto does, print the rest and say why
				// this part is missing.
				err = fmt.Errorf("the payload on topic %q is not JSON (-F %%J)", m.Topic)
				continue
			}
			dst = appendJSON(dst, m, now, true, pretty)
		}
	}
	return dst, err
}

// padString appends s within it's width and precision.
func padString(dst []byte, s string, it fmtItem) []byte {
	if it.prec >= 0 && len(s) > it.prec {
		s = s[:it.prec]
	}
	pad := it.width - len(s)
	if !it.left {
		dst = appendRepeat(dst, ' ', pad)
	}
	dst = append(dst, s...)
	if it.left {
		dst = appendRepeat(dst, ' ', pad)
	}
	return dst
}

// padBytes appends b padded to it's width.
func padBytes(dst, b []byte, it fmtItem) []byte {
	padChar := byte(' ')
	if it.zero && !it.left {
		padChar = '0'
	}
	pad := it.width - len(b)
	if !it.left {
		dst = appendRepeat(dst, padChar, pad)
	}
	dst = append(dst, b...)
	if it.left {
		dst = appendRepeat(dst, ' ', pad)
	}
	return dst
}

// padInt appends n within it's width, or, when the value is absent,
// blanks of that width, as mosquitto does for a missing property.
func padInt(dst []byte, n int, present bool, it fmtItem) []byte {
	padChar := byte(' ')
	if it.zero && !it.left {
		padChar = '0'
	}
	if !present {
		return appendRepeat(dst, padChar, it.width)
	}
	s := strconv.Itoa(n)
	pad := it.width - len(s)
	if !it.left {
		dst = appendRepeat(dst, padChar, pad)
	}
	dst = append(dst, s...)
	if it.left {
		dst = appendRepeat(dst, ' ', pad)
	}
	return dst
}

func appendRepeat(dst []byte, c byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, c)
	}
	return dst
}

func appendZeroPadded(dst []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	dst = appendRepeat(dst, '0', width-len(s))
	return append(dst, s...)
}

// strftimeFields are the letters @X takes: those of C's strftime that do
// not depend on the locale, and N for nanoseconds (mosquitto's addition).
const strftimeFields = "aAbBdeFHIjmMNpsSTuwyYzZ"

// appendStrftime appends the strftime field f of t.
func appendStrftime(dst []byte, f byte, t time.Time) []byte {
	switch f {
	case 'a':
		return t.AppendFormat(dst, "Mon")
	case 'A':
		return t.AppendFormat(dst, "Monday")
	case 'b':
		return t.AppendFormat(dst, "Jan")
	case 'B':
		return t.AppendFormat(dst, "January")
	case 'd':
		return t.AppendFormat(dst, "02")
	case 'e':
		return t.AppendFormat(dst, "_2")
	case 'F':
		return t.AppendFormat(dst, "2006-01-02")
	case 'H':
		return t.AppendFormat(dst, "15")
	case 'I':
		return t.AppendFormat(dst, "03")
	case 'j':
		return t.AppendFormat(dst, "002")
	case 'm':
		return t.AppendFormat(dst, "01")
	case 'M':
		return t.AppendFormat(dst, "04")
	case 'N':
		return appendZeroPadded(dst, t.Nanosecond(), 9)
	case 'p':
		return t.AppendFormat(dst, "PM")
	case 's':
		return strconv.AppendInt(dst, t.Unix(), 10)
	case 'S':
		return t.AppendFormat(dst, "05")
	case 'T':
		return t.AppendFormat(dst, "15:04:05")
	case 'u':
		wd := int(t.Weekday())
		if wd == 0 {
			wd = 7
		}
		return strconv.AppendInt(dst, int64(wd), 10)
	case 'w':
		return strconv.AppendInt(dst, int64(t.Weekday()), 10)
	case 'y':
		return t.AppendFormat(dst, "06")
	case 'Y':
		return t.AppendFormat(dst, "2006")
	case 'z':
		return t.AppendFormat(dst, "-0700")
	case 'Z':
		return t.AppendFormat(dst, "MST")
	}
	return dst
}

// appendJSON appends m as the JSON object of -F %j (or %J with
// rawPayload), in mosquitto_sub's shape. The keys come in a fixed order, so
// the output does not depend on the order of the properties on the wire.
func appendJSON(dst []byte, m *mqtt.Message, now time.Time, rawPayload, pretty bool) []byte {
	j := jsonWriter{buf: dst, pretty: pretty}
	j.open('{')
	j.key("tst")
	// mosquitto's timestamp: local time, microseconds, a 'Z' and then the
	// zone's offset.
	j.str(now.Format("2006-01-02T15:04:05.000000Z-0700"))
	j.key("topic")
	j.str(m.Topic)
	j.key("qos")
	j.raw(strconv.Itoa(int(m.QoS)))
	j.key("retain")
	j.raw(strconv.Itoa(btoi(m.Retain)))
	j.key("payloadlen")
	j.raw(strconv.Itoa(len(m.Payload)))
	if hasProperties(m) {
		j.key("properties")
		j.open('{')
		if m.PayloadFormat != 0 {
			j.key("payload-format-indicator")
			j.raw(strconv.Itoa(int(m.PayloadFormat)))
		}
		if m.MessageExpiry > 0 {
			j.key("message-expiry-interval")
			j.raw(strconv.FormatInt(int64(m.MessageExpiry/time.Second), 10))
		}
		if m.ContentType != "" {
			j.key("content-type")
			j.str(m.ContentType)
		}
		if m.ResponseTopic != "" {
			j.key("response-topic")
			j.str(m.ResponseTopic)
		}
		if m.CorrelationData != nil {
			j.key("correlation-data")
			j.bytes(m.CorrelationData)
		}
		if len(m.UserProperties) > 0 {
			// An object, as mosquitto prints it: a key given twice
			// appears twice.
			j.key("user-properties")
			j.open('{')
			for _, u := range m.UserProperties {
				j.key(u.Key)
				j.str(u.Value)
			}
			j.close('}')
		}
		j.close('}')
	}
	j.key("payload")
	switch {
	case len(m.Payload) == 0:
		j.raw("null") // as mosquitto prints an empty payload
	case rawPayload:
		j.raw(string(m.Payload))
	default:
		j.bytes(m.Payload)
	}
	j.close('}')
	return j.buf
}

func hasProperties(m *mqtt.Message) bool {
	// Not SubscriptionIDs: see %S in appendFormatted.
	return m.PayloadFormat != 0 || m.MessageExpiry > 0 || m.ContentType != "" || m.ResponseTopic != "" ||
		m.CorrelationData != nil || len(m.UserProperties) > 0
}

// jsonWriter appends JSON, compact or indented with tabs, without the HTML
// escaping of encoding/json (mosquitto writes <, > and & as they are).
type jsonWriter struct {
	buf    []byte
	pretty bool
	depth  int
	first  bool // no element yet at this depth
}

func (j *jsonWriter) newline() {
	if j.pretty {
		j.buf = append(j.buf, '\n')
		j.buf = appendRepeat(j.buf, '\t', j.depth)
	}
}

func (j *jsonWriter) open(c byte) {
	j.buf = append(j.buf, c)
	j.depth++
	j.first = true
}

func (j *jsonWriter) close(c byte) {
	j.depth--
	if !j.first {
		j.newline()
	}
	j.buf = append(j.buf, c)
	j.first = false
}

// elem starts an element of an array or object.
func (j *jsonWriter) elem() {
	if !j.first {
		j.buf = append(j.buf, ',')
	}
	j.first = false
	j.newline()
}

func (j *jsonWriter) key(k string) {
	j.elem()
	j.buf = appendJSONString(j.buf, k)
	j.buf = append(j.buf, ':')
	if j.pretty {
		j.buf = append(j.buf, ' ')
	}
}

func (j *jsonWriter) str(s string) { j.buf = appendJSONString(j.buf, s) }
func (j *jsonWriter) raw(s string) { j.buf = append(j.buf, s...) }

// bytes writes b as a string when it is UTF-8 text, else as an array of
// its bytes' values, so that nothing is lost.
func (j *jsonWriter) bytes(b []byte) {
	if utf8.Valid(b) {
		j.buf = appendJSONString(j.buf, string(b))
		return
	}
	j.buf = append(j.buf, '[')
	for i, c := range b {
		if i > 0 {
			j.buf = append(j.buf, ',')
		}
		j.buf = strconv.AppendInt(j.buf, int64(c), 10)
	}
	j.buf = append(j.buf, ']')
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// errorString is an error made of a constant message.
type errorString string

func (e errorString) Error() string { return string(e) }
