package wire

import "strings"

// CheckTopicName reports why name cannot be the Topic Name of a PUBLISH, or nil
// when it can: it must be 1 to 65535 bytes of valid UTF-8 without U+0000 and
// without the wildcards '+' and '#' (MQTT 5.0 section 4.7). The error is an
// *Error with code TopicNameInvalid.
func CheckTopicName(name string) error {
	if e := checkTopicName(name); e != "" {
		return &Error{Code: TopicNameInvalid, Packet: PUBLISH, Reason: "topic " + quote(name) + " " + e}
	}
	return nil
}

// topicFilterError is CheckTopicFilter for a filter carried by a packet of
// type t (SUBSCRIBE or UNSUBSCRIBE).
func topicFilterError(t Type, filter string) error {
	if e := checkTopicFilter(filter); e != "" {
		return &Error{Code: TopicFilterInvalid, Packet: t, Reason: "topic filter " + quote(filter) + " " + e}
	}
	return nil
}

// CheckTopicFilter reports why filter cannot be a Topic Filter, or nil when it
// can: 1 to 65535 bytes of valid UTF-8 without U+0000, where '#' is alone in
// the last level and '+' fills a whole level; a shared subscription
// "$share/{ShareName}/{filter}" needs a non-empty ShareName without '/', '+'
// and '#', followed by a valid filter (MQTT 5.0 sections 4.7 and 4.8.2). The
// error is an *Error with code TopicFilterInvalid.
func CheckTopicFilter(filter string) error { return topicFilterError(SUBSCRIBE, filter) }

// checkTopicName returns why name is not a valid Topic Name, or "".
func checkTopicName(name string) string {
	if name == "" {
		return "is empty" // MQTT-4.7.3-1
	}
	if e := checkUTF8(name); e != "" {
		return e
	}
	if strings.ContainsAny(name, "+#") {
		return "contains a wildcard ('+' or '#'); wildcards belong in subscription filters only" // MQTT-4.7.0-1
	}
	return ""
}

// checkTopicFilter returns why filter is not a valid Topic Filter, or "".
func checkTopicFilter(filter string) string {
	if filter == "" {
		return "is empty"
	}
	if e := checkUTF8(filter); e != "" {
		return e
	}
	f := filter
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		share, sub, ok := strings.Cut(rest, "/")
		switch {
		case share == "":
			return "has an empty share name" // MQTT-4.8.2-1
		case strings.ContainsAny(share, "+#"):
			return "has a wildcard in its share name" // MQTT-4.8.2-2
		case !ok || sub == "":
			return "has no topic filter after the share name" // MQTT-4.8.2-2
		}
		f = sub
	}
	for level := range strings.SplitSeq(f, "/") {
		switch {
		case level == "#" || level == "+":
		case strings.Contains(level, "#"):
			return "uses '#' inside a level; it must stand alone as the last level" // MQTT-4.7.1-1
		case strings.Contains(level, "+"):
			return "uses '+' inside a level; it must fill a whole level" // MQTT-4.7.1-2
		}
	}
	if i := strings.IndexByte(f, '#'); i >= 0 && i != len(f)-1 {
		return "has levels after '#'; it must be the last level" // MQTT-4.7.1-1
	}
	return ""
}

// IsShared reports whether filter names a shared subscription ("$share/...").
func IsShared(filter string) bool { return strings.HasPrefix(filter, "$share/") }

// MatchTopic reports whether the Topic Name topic matches the Topic Filter
// filter. Wildcards at the first level do not match topics starting with '$'
// (MQTT 5.0 section 4.7.2). For a shared filter, pass the part after the
// share name.
func MatchTopic(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		if filter == "#" {
			return true
		}
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a" (the parent level).
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(`"`+strings.ReplaceAll(s, "\x00", `\x00`)+`"`, "\uFFFD")
}
