package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/culex-mqtt/mqtt"
	"github.com/google/go-cmp/cmp"
)

// TestOutput checks how sub and req print a message with each output flag,
// at a fixed time. The cases that do not depend on the time are compared
// with mosquitto_sub's output in TestInteropSubOutput.
func TestOutput(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 6, 22, 12, 3, 4005006, time.FixedZone("X", 3600))
	msg := mqtt.Message{Topic: "a/b", Payload: []byte("hi there"), QoS: 1, Retain: true}
	props := mqtt.Message{Topic: "p", Payload: []byte("{}"), ContentType: "application/json", ResponseTopic: "r/1",
		CorrelationData: []byte("c-1"), MessageExpiry: 90 * time.Second, PayloadFormat: 1,
		UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}, SubscriptionIDs: []int{1}}
	empty := mqtt.Message{Topic: "e"}
	binary := mqtt.Message{Topic: "bin", Payload: []byte{'x', 0, 0xff, '"'}}
	tests := []struct {
		name  string
		flags outputFlags
		m     mqtt.Message
		want  string
	}{
		{name: "payload", m: msg, want: "hi there\n"},
		{name: "verbose", flags: outputFlags{verbose: true}, m: msg, want: "a/b hi there\n"},
		{name: "-N", flags: outputFlags{noEOL: true}, m: msg, want: "hi there"},
		{name: "-v -N", flags: outputFlags{verbose: true, noEOL: true}, m: msg, want: "a/b hi there"},
		// mosquitto_sub prints nothing for an empty payload, and
		// "(null)" with -v, but nothing with -v -N.
		{name: "empty", m: empty, want: ""},
		{name: "empty verbose", flags: outputFlags{verbose: true}, m: empty, want: "e (null)\n"},
		{name: "empty verbose -N", flags: outputFlags{verbose: true, noEOL: true}, m: empty, want: ""},
		{name: "empty -F", flags: outputFlags{format: "[%p]"}, m: empty, want: "[]\n"},
		{name: "binary", m: binary, want: "x\x00\xff\"\n"},

		{name: "-F basics", flags: outputFlags{format: "%t|%p|%q|%r|%l|%x|%X|%%"}, m: msg, want: "a/b|hi there|1|1|8|6869207468657265|6869207468657265|%\n"},
		{name: "-F hex upper", flags: outputFlags{format: "%X"}, m: binary, want: "7800FF22\n"},
		{name: "-F widths", flags: outputFlags{format: "[%5t][%-5t][%.1t][%5.1t][%4l][%-4l][%04l]"}, m: msg,
			want: "[  a/b][a/b  ][a][    a][   8][8   ][0008]\n"},
		{name: "-F payload width", flags: outputFlags{format: "[%10p][%-10p][%3p]"}, m: msg, want: "[  hi there][hi there  ][hi there]\n"},
		{name: "-F properties", flags: outputFlags{format: "%C|%D|%E|%F|%P|%R|%S"}, m: props,
			want: "application/json|c-1|90|1|k:v k:w|r/1|\n"},
		{name: "-F absent properties", flags: outputFlags{format: "[%C|%D|%E|%F|%P|%R|%S|%5C|%3E|%03F]"}, m: msg,
			want: "[|||||||     |   |000]\n"},
		{name: "-F escapes", flags: outputFlags{format: `%t\t%p\\\0\n`}, m: msg, want: "a/b\thi there\\\x00\n\n"},
		{name: "-F -N", flags: outputFlags{format: "%t", noEOL: true}, m: msg, want: "a/b"},
		{name: "-F time", flags: outputFlags{format: "%I %U @Y-@m-@d @H:@M:@S @N @z @@"}, m: msg,
			want: "2024-05-06T22:12:03+0100 1715029923.004005006 2024-05-06 22:12:03 004005006 +0100 @\n"},

		{name: "--json", flags: outputFlags{json: true}, m: msg,
			want: `{"tst":"2024-05-06T22:12:03.004005Z+0100","topic":"a/b","qos":1,"retain":1,"payloadlen":8,"payload":"hi there"}` + "\n"},
		{name: "--json properties", flags: outputFlags{json: true}, m: props,
			want: `{"tst":"2024-05-06T22:12:03.004005Z+0100","topic":"p","qos":0,"retain":0,"payloadlen":2,` +
				`"properties":{"payload-format-indicator":1,"message-expiry-interval":90,"content-type":"application/json",` +
				`"response-topic":"r/1","correlation-data":"c-1","user-properties":{"k":"v","k":"w"}},"payload":"{}"}` + "\n"},
		{name: "--json binary", flags: outputFlags{json: true}, m: binary,
			want: `{"tst":"2024-05-06T22:12:03.004005Z+0100","topic":"bin","qos":0,"retain":0,"payloadlen":4,"payload":[120,0,255,34]}` + "\n"},
		{name: "--json escapes", flags: outputFlags{json: true}, m: mqtt.Message{Topic: "q\"<", Payload: []byte("a\n\t\x01\\é")},
			want: `{"tst":"2024-05-06T22:12:03.004005Z+0100","topic":"q\"<","qos":0,"retain":0,"payloadlen":7,"payload":"a\n\t\u0001\\é"}` + "\n"},
		{name: "-F %J", flags: outputFlags{format: "%J"}, m: props,
			want: `{"tst":"2024-05-06T22:12:03.004005Z+0100","topic":"p","qos":0,"retain":0,"payloadlen":2,` +
				`"properties":{"payload-format-indicator":1,"message-expiry-interval":90,"content-type":"application/json",` +
				`"response-topic":"r/1","correlation-data":"c-1","user-properties":{"k":"v","k":"w"}},"payload":{}}` + "\n"},
		{name: "--json --pretty", flags: outputFlags{json: true, pretty: true}, m: mqtt.Message{Topic: "t", Payload: []byte("p"), UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}},
			want: "{\n\t\"tst\": \"2024-05-06T22:12:03.004005Z+0100\",\n\t\"topic\": \"t\",\n\t\"qos\": 0,\n\t\"retain\": 0,\n\t\"payloadlen\": 1,\n" +
				"\t\"properties\": {\n\t\t\"user-properties\": {\n\t\t\t\"k\": \"v\"\n\t\t}\n\t},\n\t\"payload\": \"p\"\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.flags
			if err := o.resolve(); err != nil {
				t.Fatal(err)
			}
			got, err := o.appendMessage(nil, &tt.m, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if o.json || o.format == "%J" {
				var v any
				if err := json.Unmarshal(got, &v); err != nil {
					t.Errorf("not JSON: %v", err)
				}
			}
		})
	}
}

// TestOutputJSONPayloadNotJSON checks -F %J on a payload that is not JSON:
// the rest of the line is printed, and an error says why the JSON is not.
func TestOutputJSONPayloadNotJSON(t *testing.T) {
	t.Parallel()
	o := outputFlags{format: "%t %J"}
	if err := o.resolve(); err != nil {
		t.Fatal(err)
	}
	got, err := o.appendMessage(nil, &mqtt.Message{Topic: "a", Payload: []byte("not json")}, time.Now())
	if string(got) != "a \n" || err == nil || !strings.Contains(err.Error(), `payload on topic "a" is not JSON`) {
		t.Errorf("got %q, %v; want %q and an error", got, err, "a \n")
	}
}

func TestParseFormatErrors(t *testing.T) {
	t.Parallel()
	for format, want := range map[string]string{
		"%":       "ends in the middle",
		"%5":      "ends in the middle",
		"%z":      "%z is not a conversion",
		"%m":      "message ID",
		"%A":      "topic alias",
		"@":       "ends with @",
		"@Q":      "@Q is not a time field",
		`\`:       `ends with \`,
		`\q`:      `\q is not an escape`,
		"%99999t": "field width",
	} {
		if _, err := parseFormat(format); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFormat(%q) = %v, want an error with %q", format, err, want)
		}
	}
}
