package mqtttest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt/wire"
)

// treeServer returns a server that never starts, for tests that call the
// routing code directly, with the caller holding no lock: nothing else
// runs on it.
func treeServer(t *testing.T) *Server {
	t.Helper()
	s := NewUnstartedServer()
	t.Cleanup(s.Close)
	return s
}

// treeSession adds an offline session that never expires, so that QoS 1
// and 2 deliveries wait in its pending queue.
func treeSession(s *Server, id string) *session {
	sess := newSession(id)
	sess.expiry = math.MaxUint32
	s.sessions[id] = sess
	return sess
}

// treeSubscribe subscribes sess to f as onSubscribe does, granting f.QoS.
func treeSubscribe(s *Server, sess *session, f wire.Filter, id int) *subscription {
	group, match := "", f.Topic
	if wire.IsShared(f.Topic) {
		group, match, _ = strings.Cut(f.Topic[len("$share/"):], "/")
	}
	sub, _ := s.subscribe(sess, f, group, match, f.QoS, id)
	return sub
}

// matchFilters returns the filters of the subscriptions on the nodes that
// match topic, sorted.
func matchFilters(tree *topicTree, topic string) []string {
	var got []string
	for _, n := range tree.match(topic) {
		for _, sub := range n.subs {
			got = append(got, sub.match)
		}
		for _, g := range n.groups {
			got = append(got, "$share/"+g.name+"/"+g.members[0].match)
		}
	}
	slices.Sort(got)
	return got
}

// countNodes returns the number of nodes below n.
func countNodes(n *topicNode) int {
	k := 0
	for _, c := range n.children {
		k += 1 + countNodes(c)
	}
	return k
}

func TestTopicTreeMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		filters []string
		topic   string
		want    []string
	}{
		{"exact", []string{"a/b", "a/c", "a", "a/b/c"}, "a/b", []string{"a/b"}},
		{"plus", []string{"a/+", "+/b", "+/+", "+", "a/+/c", "b/+"}, "a/b", []string{"+/+", "+/b", "a/+"}},
		{"plus one level only", []string{"a/+", "+"}, "a/b/c", nil},
		{"plus needs the level", []string{"a/+"}, "a", nil},
		{"a level on the way", []string{"a/b/c", "+/b/c"}, "a/b", nil},
		{"hash", []string{"#", "a/#", "a/b/#", "b/#", "a/b/c/#"}, "a/b", []string{"#", "a/#", "a/b/#"}},
		{"hash matches the parent level", []string{"a/#", "a/b/#"}, "a", []string{"a/#"}},
		{"hash is a whole level", []string{"a/#"}, "ab", nil},
		{"plus then hash", []string{"+/#", "+/+/#"}, "a", []string{"+/#"}},
		{"empty levels", []string{"a//b", "a/+/b", "+/+/+", "a/b"}, "a//b", []string{"+/+/+", "a/+/b", "a//b"}},
		{"leading slash", []string{"/+", "+/+", "+", "#", "/#"}, "/", []string{"#", "+/+", "/#", "/+"}},
		{"dollar topic", []string{"#", "+/info", "+/+", "$SYS/#", "$SYS/+", "$SYS/info", "$SYS"}, "$SYS/info",
			[]string{"$SYS/#", "$SYS/+", "$SYS/info"}},
		{"dollar topic, wildcards after the first level", []string{"$SYS/+/x", "$SYS/#", "+/a/x"}, "$SYS/a/x",
			[]string{"$SYS/#", "$SYS/+/x"}},
		{"dollar not first", []string{"+/$x", "#", "a/+"}, "a/$x", []string{"#", "+/$x", "a/+"}},
		{"shared", []string{"$share/g/a/+", "$share/h/#", "a/b", "$share/g/b"}, "a/b",
			[]string{"$share/g/a/+", "$share/h/#", "a/b"}},
		{"shared, dollar topic", []string{"$share/g/#", "$share/g/+/x", "$share/g/$SYS/x"}, "$SYS/x",
			[]string{"$share/g/$SYS/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := treeServer(t)
			for i, f := range tt.filters {
				treeSubscribe(s, treeSession(s, "c"+string(rune('a'+i))), wire.Filter{Topic: f}, 0)
			}
			if diff := cmp.Diff(tt.want, matchFilters(&s.topics, tt.topic)); diff != "" {
				t.Errorf("filters matching %q (-want +got):\n%s", tt.topic, diff)
			}
			for _, n := range s.topics.match(tt.topic) {
				if !n.holds() {
					t.Errorf("matching %q gives node %q, which holds no subscription", tt.topic, n.level)
				}
			}
		})
	}
}

// TestTopicTreeAgreesWithMatchTopic holds every filter of up to three
// levels over a few level values, with and without a trailing '#', in one
// tree, and compares what matches each topic of up to four levels with
// wire.MatchTopic.
func TestTopicTreeAgreesWithMatchTopic(t *testing.T) {
	t.Parallel()
	s := treeServer(t)
	sess := treeSession(s, "c")
	filters := []string{"#"}
	for _, f := range joinLevels([]string{"a", "b", "", "+", "$a"}, 3) {
		filters = append(filters, f, f+"/#")
	}
	for _, f := range filters {
		treeSubscribe(s, sess, wire.Filter{Topic: f}, 0)
	}
	for _, topic := range joinLevels([]string{"a", "b", "", "$a"}, 4) {
		var want []string
		for _, f := range filters {
			if wire.MatchTopic(f, topic) {
				want = append(want, f)
			}
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, matchFilters(&s.topics, topic)); diff != "" {
			t.Errorf("filters matching %q (-want +got):\n%s", topic, diff)
		}
	}
}

// joinLevels returns every name of 1 to n levels taken from levels.
func joinLevels(levels []string, n int) []string {
	names := slices.Clone(levels)
	last := names
	for range n - 1 {
		var next []string
		for _, p := range last {
			for _, l := range levels {
				next = append(next, p+"/"+l)
			}
		}
		names = append(names, next...)
		last = next
	}
	return names
}

// TestRouteTargets checks what route delivers to whom, through targets:
// one copy per session at the highest QoS of its matching subscriptions
// with all their identifiers, sessions in the order of their oldest
// matching subscription, then one copy per share group.
func TestRouteTargets(t *testing.T) {
	t.Parallel()
	type sub struct {
		sess   string
		filter string
		qos    byte
		id     int
		opts   wire.Filter // NoLocal, RetainAsPublished
	}
	type want struct {
		Sess   string
		QoS    byte
		Retain bool
		SubIDs []int
	}
	tests := []struct {
		name string
		subs []sub
		msg  message
		want []want
	}{
		{
			name: "overlapping subscriptions of one session",
			subs: []sub{
				{sess: "a", filter: "x/#", qos: 0, id: 1},
				{sess: "a", filter: "x/+", qos: 1, id: 7},
				{sess: "a", filter: "x/y", qos: 2},
				{sess: "a", filter: "#", qos: 1, id: 3},
				{sess: "a", filter: "x/z", qos: 2, id: 9},
			},
			msg:  message{topic: "x/y", qos: 2},
			want: []want{{Sess: "a", QoS: 2, SubIDs: []int{1, 7, 3}}},
		},
		{
			name: "granted QoS caps the message's",
			subs: []sub{{sess: "a", filter: "x/y", qos: 2}, {sess: "b", filter: "x/+", qos: 1}},
			msg:  message{topic: "x/y", qos: 1},
			want: []want{{Sess: "a", QoS: 1}, {Sess: "b", QoS: 1}},
		},
		{
			name: "sessions by oldest matching subscription",
			subs: []sub{
				{sess: "a", filter: "x/y"},
				{sess: "b", filter: "x/#"},
				{sess: "c", filter: "+/y"},
				{sess: "a", filter: "#"},
				{sess: "d", filter: "other"},
				{sess: "c", filter: "x/y"},
				{sess: "e", filter: "x/+"},
			},
			msg:  message{topic: "x/y"},
			want: []want{{Sess: "a"}, {Sess: "b"}, {Sess: "c"}, {Sess: "e"}},
		},
		{
			name: "no local",
			subs: []sub{
				{sess: "a", filter: "x", qos: 1, opts: wire.Filter{NoLocal: true}},
				{sess: "a", filter: "#", qos: 0, id: 2},
				{sess: "b", filter: "x", qos: 1, opts: wire.Filter{NoLocal: true}},
				{sess: "c", filter: "x", opts: wire.Filter{NoLocal: true}},
			},
			msg:  message{topic: "x", qos: 1, from: "a"},
			want: []want{{Sess: "a", QoS: 0, SubIDs: []int{2}}, {Sess: "b", QoS: 1}, {Sess: "c"}},
		},
		{
			name: "retain as published",
			subs: []sub{
				{sess: "a", filter: "x", opts: wire.Filter{RetainAsPublished: true}},
				{sess: "b", filter: "x"},
				{sess: "c", filter: "#"},
				{sess: "c", filter: "+", opts: wire.Filter{RetainAsPublished: true}},
			},
			msg:  message{topic: "x", retain: true},
			want: []want{{Sess: "a", Retain: true}, {Sess: "b"}, {Sess: "c", Retain: true}},
		},
		{
			name: "share groups after the sessions, each once, oldest first",
			subs: []sub{
				{sess: "a", filter: "$share/h/#", qos: 1, id: 4},
				{sess: "a", filter: "$share/g/x/+", qos: 2},
				{sess: "b", filter: "$share/g/x/+", qos: 2},
				{sess: "c", filter: "x/y", qos: 1},
				{sess: "b", filter: "$share/h/x/y"},
			},
			msg: message{topic: "x/y", qos: 2},
			want: []want{
				{Sess: "c", QoS: 1},
				{Sess: "a", QoS: 1, SubIDs: []int{4}},
				{Sess: "a", QoS: 2},
				{Sess: "b", QoS: 0},
			},
		},
		{
			name: "share groups by age, not by place in the tree",
			subs: []sub{
				{sess: "a", filter: "$share/g/x/y"},
				{sess: "b", filter: "$share/h/#"},
				{sess: "c", filter: "$share/i/+/y"},
			},
			msg:  message{topic: "x/y"},
			want: []want{{Sess: "a"}, {Sess: "b"}, {Sess: "c"}},
		},
		{
			name: "many nodes, each keeping its own subscriptions",
			subs: []sub{
				{sess: "a", filter: "x/y"},
				{sess: "b", filter: "#"},
				{sess: "c", filter: "#"},
				{sess: "d", filter: "#"},
				{sess: "e", filter: "#"},
				{sess: "f", filter: "#"},
				{sess: "g", filter: "+/y"},
			},
			msg:  message{topic: "x/y"},
			want: []want{{Sess: "a"}, {Sess: "b"}, {Sess: "c"}, {Sess: "d"}, {Sess: "e"}, {Sess: "f"}, {Sess: "g"}},
		},
		{
			name: "dollar topic",
			subs: []sub{
				{sess: "a", filter: "#"},
				{sess: "b", filter: "$share/g/#"},
				{sess: "c", filter: "$SYS/#"},
			},
			msg:  message{topic: "$SYS/x"},
			want: []want{{Sess: "c"}},
		},
		{
			name: "no match",
			subs: []sub{{sess: "a", filter: "x/+"}},
			msg:  message{topic: "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := treeServer(t)
			for _, sb := range tt.subs {
				sess := s.sessions[sb.sess]
				if sess == nil {
					sess = treeSession(s, sb.sess)
				}
				f := sb.opts
				f.Topic, f.QoS = sb.filter, sb.qos
				treeSubscribe(s, sess, f, sb.id)
			}
			var got []want
			for _, tg := range s.targets(&tt.msg, nil) {
				got = append(got, want{Sess: tg.sess.id, QoS: tg.qos, Retain: tg.retain, SubIDs: tg.subIDs})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			checkOrder(t, &s.topics.root)
		})
	}
}

// checkOrder fails the test unless every node under n keeps its own
// subscriptions and share groups, oldest first.
func checkOrder(t *testing.T, n *topicNode) {
	t.Helper()
	sorted := func(subs []*subscription) bool {
		return slices.IsSortedFunc(subs, func(a, b *subscription) int { return cmpSeq(a, b.seq) })
	}
	if !sorted(n.subs) {
		t.Errorf("node %q: subscriptions out of order", n.level)
	}
	for i, g := range n.groups {
		if i > 0 && n.groups[i-1].seq > g.seq {
			t.Errorf("node %q: share groups out of order", n.level)
		}
		if !sorted(g.members) {
			t.Errorf("node %q: members of group %q out of order", n.level, g.name)
		}
	}
	for _, sub := range n.subs {
		if sub.node != n {
			t.Errorf("node %q holds a subscription to %q", n.level, sub.match)
		}
	}
	for _, c := range n.children {
		checkOrder(t, c)
	}
}

// TestRouteOnce publishes through route to sessions with overlapping
// subscriptions and checks each gets one delivery.
func TestRouteOnce(t *testing.T) {
	t.Parallel()
	s := treeServer(t)
	a, b := treeSession(s, "a"), treeSession(s, "b")
	for _, f := range []string{"x/#", "x/+", "x/y", "+/y", "#"} {
		treeSubscribe(s, a, wire.Filter{Topic: f, QoS: 1}, 0)
	}
	treeSubscribe(s, b, wire.Filter{Topic: "x/y", QoS: 2}, 0)
	if !s.route(&message{topic: "x/y", qos: 2}) {
		t.Fatal("route reports no match")
	}
	for _, sess := range []*session{a, b} {
		if n := len(sess.pending); n != 1 {
			t.Errorf("session %s: %d deliveries, want 1", sess.id, n)
		}
	}
	if q := a.pending[0].qos; q != 1 {
		t.Errorf("session a: QoS %d, want 1", q)
	}
	if q := b.pending[0].qos; q != 2 {
		t.Errorf("session b: QoS %d, want 2", q)
	}
}

// TestTopicTreePrune subscribes sessions to overlapping filters, shared
// and not, and checks that unsubscribing and ending the sessions leaves
// the tree empty, and that a partial removal keeps exactly the nodes
// still needed.
func TestTopicTreePrune(t *testing.T) {
	t.Parallel()
	filters := []string{
		"a", "a/b", "a/b/c", "a/+/c", "a/#", "#", "+", "+/+/+/+", "x//y", "$SYS/#",
		"$share/g/a/b", "$share/g/a/b/c", "$share/h/a/b", "$share/g/#",
	}
	s := treeServer(t)
	var sessions []*session
	for _, id := range []string{"s1", "s2", "s3"} {
		sess := treeSession(s, id)
		sessions = append(sessions, sess)
		for _, f := range filters {
			treeSubscribe(s, sess, wire.Filter{Topic: f}, 0)
		}
	}
	full := countNodes(&s.topics.root)

	// s1 unsubscribes, as onUnsubscribe does: the nodes stay for the
	// others.
	for _, f := range filters {
		s.unsubscribe(sessions[0].subs[f])
	}
	if n := countNodes(&s.topics.root); n != full {
		t.Errorf("after one of three sessions unsubscribed: %d nodes, want %d", n, full)
	}
	want := []string{"#", "#", "$share/g/#", "$share/g/a/b/c", "a/#", "a/#", "a/+/c", "a/+/c", "a/b/c", "a/b/c"}
	if diff := cmp.Diff(want, matchFilters(&s.topics, "a/b/c")); diff != "" {
		t.Errorf("after one of three sessions unsubscribed, filters matching a/b/c (-want +got):\n%s", diff)
	}

	// s2 leaves a/b/c and a/+/c: their nodes go, a/b and a/+ lose a child.
	s.unsubscribe(sessions[1].subs["a/b/c"])
	s.unsubscribe(sessions[2].subs["a/b/c"])
	s.unsubscribe(sessions[1].subs["a/+/c"])
	s.unsubscribe(sessions[2].subs["a/+/c"])
	s.unsubscribe(sessions[1].subs["$share/g/a/b/c"])
	if n := countNodes(&s.topics.root); n != full-2 {
		t.Errorf("after a/+/c went: %d nodes, want %d", n, full-2)
	}
	if c := s.topics.root.children["a"].children["+"]; c != nil {
		t.Errorf("node a/+ kept with %d children", len(c.children))
	}
	if c := s.topics.root.children["a"].children["b"]; len(c.children) != 1 {
		t.Errorf("node a/b has %d children, want 1 (c, for $share/g/a/b/c of s3)", len(c.children))
	}

	for _, sess := range sessions[1:] {
		s.endSession(sess)
	}
	if !s.topics.root.empty() {
		t.Errorf("after every session ended: %d nodes left", countNodes(&s.topics.root))
	}
	if got := s.topics.match("a/b"); len(got) != 0 {
		t.Errorf("after every session ended, a/b matches %d nodes", len(got))
	}
}

// TestTopicTreeRemoveKeepsOrder subscribes many sessions to one filter and
// one share group, removes them out of order, and checks that the rest
// stay oldest first and that the group's turn stays on the same member.
func TestTopicTreeRemoveKeepsOrder(t *testing.T) {
	t.Parallel()
	s := treeServer(t)
	var subs, members []*subscription
	for i := range 10 {
		sess := treeSession(s, string(rune('a'+i)))
		subs = append(subs, treeSubscribe(s, sess, wire.Filter{Topic: "x"}, 0))
		members = append(members, treeSubscribe(s, sess, wire.Filter{Topic: "$share/g/x"}, 0))
	}
	g := s.topics.root.children["x"].groups[0]
	for range 4 {
		g.pick() // members 0 to 3 have had their turn
	}
	for _, i := range []int{7, 0, 3, 9, 4} {
		s.unsubscribe(subs[i])
		s.unsubscribe(members[i])
	}
	n := s.topics.root.children["x"]
	var got, gotMembers []string
	for _, sub := range n.subs {
		got = append(got, sub.sess.id)
	}
	for _, sub := range g.members {
		gotMembers = append(gotMembers, sub.sess.id)
	}
	want := []string{"b", "c", "f", "g", "i"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("subscriptions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, gotMembers); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
	if next := g.pick().sess.id; next != "f" {
		t.Errorf("next member %s, want f (e, whose turn it was, left)", next)
	}
}

// BenchmarkRoute measures route alone, without connections: n offline
// sessions subscribed as in BenchmarkFanOut, to "dev/<i>/in" and
// "news/#", and a QoS 0 message, which offline sessions drop at once. So
// what is measured is finding the receivers: "all" matches every session,
// "one" one subscription among 2n.
func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		s := NewUnstartedServer()
		b.Cleanup(s.Close)
		for i := range n {
			sess := newSession("s" + strconv.Itoa(i))
			sess.expiry = math.MaxUint32
			s.sessions[sess.id] = sess
			s.subscribe(sess, wire.Filter{Topic: "dev/" + strconv.Itoa(i) + "/in"}, "", "dev/"+strconv.Itoa(i)+"/in", 0, 0)
			s.subscribe(sess, wire.Filter{Topic: "news/#"}, "", "news/#", 0, 0)
		}
		for _, c := range []struct{ name, topic string }{
			{"all", "news/today"},
			{"one", "dev/" + strconv.Itoa(n/2) + "/in"},
		} {
			b.Run(fmt.Sprintf("subs=%d/%s", n, c.name), func(b *testing.B) {
				m := &message{topic: c.topic}
				b.ReportAllocs()
				for b.Loop() {
					if !s.route(m) {
						b.Fatal("no match")
					}
				}
			})
		}
	}
}
