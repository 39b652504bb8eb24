package epcis

import "strings"

// Node is one element of the neutral event tree both readers build. Name is
// the local name for standard EPCIS fields ("epcList", "bizStep") and
// "{namespace}local" for user extensions; XML attributes become child nodes.
// Text is the trimmed character data ("" when none). JSON input is reshaped
// into this XML-like model (list members named epc, quantityElement,
// bizTransaction, source, destination, sensorElement, ...).
type Node struct {
	Name     string  `json:"name"`
	Text     string  `json:"text,omitempty"`
	Children []*Node `json:"children,omitempty"`
}

// IsExtension reports whether the node is a namespaced (user extension) field.
func (n *Node) IsExtension() bool { return strings.HasPrefix(n.Name, "{") }

// child returns the first child named name, or nil.
func (n *Node) child(name string) *Node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// text returns the text of the first child named name, or "".
func (n *Node) text(name string) string {
	if c := n.child(name); c != nil {
		return c.Text
	}
	return ""
}

// all returns every child named name.
func (n *Node) all(name string) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, c := range n.Children {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// count returns how many children are named name.
func (n *Node) count(name string) int {
	k := 0
	for _, c := range n.Children {
		if c.Name == name {
			k++
		}
	}
	return k
}

// extensions returns the namespaced children.
func (n *Node) extensions() []*Node {
	var out []*Node
	for _, c := range n.Children {
		if c.IsExtension() {
			out = append(out, c)
		}
	}
	return out
}

// Namespace splits "{ns}local" into ns and local ("" and name otherwise).
func (n *Node) Namespace() (ns, local string) {
	if !n.IsExtension() {
		return "", n.Name
	}
	i := strings.IndexByte(n.Name, '}')
	if i < 0 {
		return "", n.Name
	}
	return n.Name[1:i], n.Name[i+1:]
}
