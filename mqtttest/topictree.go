package mqtttest

import (
	"slices"
	"strings"
)

// A topicTree holds every subscription of every session, shared or not,
// indexed by topic filter one level per node, so that routing a message
// visits only the nodes its topic's levels lead to. A publish then costs
// in proportion to the levels of its topic and to the subscriptions that
// match it, not to all the subscriptions the server has: a load test with
// thousands of subscribers, each on a topic of its own, stays cheap.
//
// Nodes that hold no subscription and lead to none are removed, so the
// tree does not grow with clients that come and go.
//
// The zero value is an empty tree. The tree is guarded by Server.mu.
type topicTree struct {
	root topicNode
	// seq numbers subscriptions and share groups as they are made: routing
	// sorts what matches by it, to deliver oldest first whatever the shape
	// of the tree.
	seq uint64
	// found is the result of match, reused from call to call.
	found []*topicNode
}

// A topicNode is one level of a topic filter: the filter is the levels on
// the path from the root to the node.
type topicNode struct {
	parent   *topicNode
	level    string                // the level that leads here from parent
	children map[string]*topicNode // by level, "+" and "#" included; nil when none
	subs     []*subscription       // non-shared subscriptions of this filter, by seq
	groups   []*shareGroup         // share groups of this filter, by seq
}

// empty reports whether the node holds no subscription and leads to none.
func (n *topicNode) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 && len(n.children) == 0
}

// holds reports whether the node has subscriptions of its own.
func (n *topicNode) holds() bool { return len(n.subs) > 0 || len(n.groups) > 0 }

// add puts a new subscription in the tree: a non-shared one on the node of
// its filter, a shared one in the share group of its name there, which it
// makes if needed.
func (t *topicTree) add(sub *subscription) {
	n := &t.root
	rest := sub.match
	for {
		level, more, found := strings.Cut(rest, "/")
		c := n.children[level]
		if c == nil {
			c = &topicNode{parent: n, level: level}
			if n.children == nil {
				n.children = map[string]*topicNode{}
			}
			n.children[level] = c
		}
		n = c
		if !found {
			break
		}
		rest = more
	}
	t.seq++
	sub.node, sub.seq = n, t.seq
	if sub.group == "" {
		n.subs = append(n.subs, sub)
		return
	}
	i := slices.IndexFunc(n.groups, func(g *shareGroup) bool { return g.name == sub.group })
	if i < 0 {
		n.groups = append(n.groups, &shareGroup{name: sub.group, seq: t.seq})
		i = len(n.groups) - 1
	}
	g := n.groups[i]
	g.members = append(g.members, sub)
}

// remove takes a subscription out of the tree, with its share group if it
// was the last member, and then every node left empty.
func (t *topicTree) remove(sub *subscription) {
	n := sub.node
	if n == nil {
		return
	}
	sub.node = nil
	if sub.group == "" {
		n.subs = deleteBySeq(n.subs, sub)
	} else if i := slices.IndexFunc(n.groups, func(g *shareGroup) bool { return g.name == sub.group }); i >= 0 {
		g := n.groups[i]
		if j, ok := slices.BinarySearchFunc(g.members, sub.seq, cmpSeq); ok {
			g.members = slices.Delete(g.members, j, j+1)
			if j < g.next {
				g.next--
			}
		}
		if len(g.members) == 0 {
			n.groups = slices.Delete(n.groups, i, i+1)
		}
	}
	for n.parent != nil && n.empty() {
		delete(n.parent.children, n.level)
		if len(n.parent.children) == 0 {
			n.parent.children = nil
		}
		n = n.parent
	}
}

// cmpSeq orders a subscription against a seq, for binary searches in the
// slices kept by seq.
func cmpSeq(sub *subscription, seq uint64) int {
	switch {
	case sub.seq < seq:
		return -1
	case sub.seq > seq:
		return 1
	}
	return 0
}

// deleteBySeq removes sub from subs, which is sorted by seq, keeping the
// order. A binary search rather than a scan: thousands of sessions may
// subscribe to one filter and leave one by one.
func deleteBySeq(subs []*subscription, sub *subscription) []*subscription {
	if i, ok := slices.BinarySearchFunc(subs, sub.seq, cmpSeq); ok {
		return slices.Delete(subs, i, i+1)
	}
	return subs
}

// match returns the nodes whose filter matches topic and which hold
// subscriptions, each once. Leading wildcards do not match a topic that
// begins with '$' (MQTT-4.7.2-1). The result is valid until the next call.
func (t *topicTree) match(topic string) []*topicNode {
	t.found = t.root.match(topic, !strings.HasPrefix(topic, "$"), t.found[:0])
	return t.found
}

// match appends the nodes under n that match rest, the levels of the topic
// still to match. wild says whether '+' and '#' may match its first level.
func (n *topicNode) match(rest string, wild bool, out []*topicNode) []*topicNode {
	level, more, found := strings.Cut(rest, "/")
	if wild {
		if c := n.children["#"]; c != nil && c.holds() {
			out = append(out, c) // this level and all after (MQTT-4.7.1-2)
		}
		if c := n.children["+"]; c != nil {
			out = c.matchNext(more, found, out) // this level (MQTT-4.7.1-3)
		}
	}
	if c := n.children[level]; c != nil {
		out = c.matchNext(more, found, out)
	}
	return out
}

// matchNext goes on matching below n, which matched a level of the topic;
// found says whether the topic has more levels, in rest.
func (n *topicNode) matchNext(rest string, found bool, out []*topicNode) []*topicNode {
	if found {
		return n.match(rest, true, out)
	}
	if n.holds() {
		out = append(out, n)
	}
	if c := n.children["#"]; c != nil && c.holds() {
		out = append(out, c) // "a/#" matches "a" too (MQTT-4.7.1-2)
	}
	return out
}
