package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The bounds every file meets before kustomize or the plain reader sees
// it. A repository is input from whoever can open a pull request, and
// kustomize expands YAML aliases by copying nodes: a few hundred bytes of
// nested aliases ("billion laughs") become gigabytes. The size bound
// alone cannot stop that, so aliases are counted, not expanded, first.
const (
	// DefaultMaxFileBytes bounds one file: 16 MiB.
	DefaultMaxFileBytes = 16 << 20
	// DefaultMaxAliasNodes bounds how many nodes YAML aliases may add
	// when they are expanded, in one file and over all the files of one
	// render (each file counted once): 100,000. kustomize copies every
	// node an alias stands for; 100,000 copies cost it about a second
	// and 250 MB, and hand-written manifests use a few hundred. A file
	// without aliases adds none.
	DefaultMaxAliasNodes = 100_000
)

// limits are Options' bounds with the defaults filled in.
type limits struct {
	fileBytes  int64
	aliasNodes int64
	// budget, when set, holds what aliases added in the files of one
	// render so far, so that many files just under the limit cannot add
	// up to what one file may not.
	budget *aliasBudget
}

type aliasBudget struct {
	used   int64
	byFile map[string]int64
}

// charge records that aliases in file add n nodes. A file read twice
// (two overlays sharing a base, ciphertext and plaintext) counts once.
func (b *aliasBudget) charge(file string, n int64, lim limits) error {
	prev, seen := b.byFile[file]
	if seen && n <= prev {
		return nil
	}
	b.used += n - prev
	b.byFile[file] = n
	if b.used > lim.aliasNodes {
		return fmt.Errorf("%s: YAML aliases in this file bring the nodes aliases add in this render to more than %d (the limit for one render); tidegate refuses this, as expanding them would exhaust memory (use fewer anchors and aliases)", file, lim.aliasNodes)
	}
	return nil
}

func (o Options) limits() limits {
	l := limits{fileBytes: o.MaxFileBytes, aliasNodes: o.MaxAliasNodes}
	if l.fileBytes <= 0 {
		l.fileBytes = DefaultMaxFileBytes
	}
	if l.aliasNodes <= 0 {
		l.aliasNodes = DefaultMaxAliasNodes
	}
	return l
}

// readFile reads a regular file of at most lim.fileBytes. name is what
// errors call it (repository-relative). Errors from opening the file
// are returned as they are, so that kustomize still recognises a
// missing file or a directory.
func readFile(abs, name string, lim limits) ([]byte, error) {
	// Stat before opening: opening a FIFO for reading waits for a writer.
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", name)
	}
	if !fi.Mode().IsRegular() {
		// A FIFO or device would block or never end.
		return nil, fmt.Errorf("%s is not a regular file (%s); tidegate reads only regular files", name, fi.Mode().Type())
	}
	if fi.Size() > lim.fileBytes {
		return nil, tooBig(name, fi.Size(), lim)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read-only: nothing to flush
	data, err := io.ReadAll(io.LimitReader(f, lim.fileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > lim.fileBytes {
		return nil, tooBig(name, int64(len(data)), lim)
	}
	return data, nil
}

func tooBig(name string, size int64, lim limits) error {
	return fmt.Errorf("%s is %d bytes, more than the limit of %d bytes for one file; tidegate refuses larger files (split it into several)", name, size, lim.fileBytes)
}

// checkYAML parses data into YAML nodes, without expanding aliases, and
// refuses a stream whose aliases would add more than lim.aliasNodes
// nodes. With strict (a manifest or a kustomization, not a data file a
// generator reads) a syntax error and a key given twice in one mapping
// are errors too, naming name:line; without it a stream that does not
// parse is left to its reader, which parses it with the same parser and
// so expands nothing either.
func checkYAML(name string, data []byte, lim limits, strict bool) error {
	_, err := parseYAML(name, data, lim, strict, false)
	return err
}

// parseYAML is checkYAML that also returns, with keep, the documents it
// parsed, so that a reader of the same data need not parse it again.
func parseYAML(name string, data []byte, lim limits, strict, keep bool) (docs []*yaml.Node, err error) {
	// The budget is charged per document as the counts grow, so a file
	// of many documents is charged its running total; charge keeps the
	// largest.
	if int64(len(data)) > lim.fileBytes {
		return nil, tooBig(name, int64(len(data)), lim)
	}
	defer func() {
		// The parser has panicked on hostile input before; a panic must
		// read as an error about this file, not a crash.
		if p := recover(); p != nil {
			docs, err = nil, fmt.Errorf("%s: the YAML parser failed on this file (%v); fix the file", name, p)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	c := &nodeCounter{
		expanded: map[*yaml.Node]int64{},
		open:     map[*yaml.Node]bool{},
		// Each literal node takes at least one byte, so this cap is
		// above any legitimate total and keeps sums from overflowing.
		cap: lim.aliasNodes + int64(len(data)) + 1,
	}
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			if !strict {
				return nil, nil
			}
			line, msg := yamlError(err)
			if n := lineCount(data); line > n {
				line = n // the end of the stream: the last line is the one to fix
			}
			return nil, fmt.Errorf("%s:%d: invalid YAML: %s (fix the file; nothing was applied)", name, line, msg)
		}
		if err := c.walk(&doc, strict); err != nil {
			return nil, fmt.Errorf("%s:%w", name, err)
		}
		if c.total-c.literal > lim.aliasNodes {
			return nil, fmt.Errorf("%s:%d: YAML aliases in this file expand to more than %d nodes (the limit); tidegate refuses such files, as a \"billion laughs\" document would exhaust memory (use fewer anchors and aliases)", name, doc.Line, lim.aliasNodes)
		}
		if lim.budget != nil {
			if err := lim.budget.charge(name, c.total-c.literal, lim); err != nil {
				return nil, err
			}
		}
		if keep {
			docs = append(docs, &doc)
		}
	}
}

// nodeCounter counts the nodes of YAML documents as if every alias were
// replaced by a copy of its anchor, without making the copies: the
// expanded size of each anchored node is remembered, so each node is
// visited once.
type nodeCounter struct {
	expanded map[*yaml.Node]int64 // anchored nodes done: their expanded size
	open     map[*yaml.Node]bool  // anchored nodes being walked: an alias to one is a cycle
	cap      int64
	literal  int64 // nodes as written, over all documents so far
	total    int64 // nodes after expansion, over all documents so far
}

// walk adds the document's counts, depth first with its own stack so
// that a deep document cannot exhaust the goroutine's. An alias always
// comes after its anchor in the stream, so the anchor is either done
// (its size is known) or still open (a cycle).
func (c *nodeCounter) walk(doc *yaml.Node, strict bool) error {
	type frame struct {
		n    *yaml.Node
		next int   // index of the next child to visit
		size int64 // expanded size of the children visited so far, plus one
	}
	stack := []frame{{n: doc, size: 1}}
	c.literal++
	if doc.Anchor != "" {
		c.open[doc] = true
	}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next == 0 && strict && top.n.Kind == yaml.MappingNode {
			if err := duplicateKey(top.n); err != nil {
				return err
			}
		}
		if top.next < len(top.n.Content) {
			child := top.n.Content[top.next]
			top.next++
			if child == nil {
				continue
			}
			c.literal++
			if child.Kind == yaml.AliasNode {
				target := child.Alias
				if target == nil {
					top.size = c.add(top.size, 1)
					continue
				}
				if c.open[target] {
					return fmt.Errorf("%d: the alias *%s refers to the node that contains it; such a document never ends (remove the alias)", child.Line, child.Value)
				}
				size, ok := c.expanded[target]
				if !ok {
					// An anchor the walk has not met (another document):
					// the parser would have refused it; count it as one.
					size = 1
				}
				top.size = c.add(top.size, size)
				continue
			}
			if child.Anchor != "" {
				c.open[child] = true
			}
			stack = append(stack, frame{n: child, size: 1})
			continue
		}
		done := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if done.n.Anchor != "" {
			delete(c.open, done.n)
			c.expanded[done.n] = done.size
		}
		if len(stack) == 0 {
			c.total = c.add(c.total, done.size)
			return nil
		}
		parent := &stack[len(stack)-1]
		parent.size = c.add(parent.size, done.size)
	}
	return nil
}

func (c *nodeCounter) add(a, b int64) int64 {
	if a+b > c.cap || a+b < 0 {
		return c.cap
	}
	return a + b
}

// duplicateKey refuses a mapping that gives one key twice: YAML readers
// keep the last value silently, so the object applied is not the one a
// reviewer read (a second metadata.name renames it).
func duplicateKey(m *yaml.Node) error {
	seen := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k == nil || k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || k.Value == "<<" {
			continue
		}
		if first, dup := seen[k.Value]; dup {
			return fmt.Errorf("%d: the key %q is given twice in one mapping (first on line %d); YAML keeps only the last value, so the object is not what it reads as (remove or rename one)", k.Line, k.Value, first)
		}
		seen[k.Value] = k.Line
	}
	return nil
}

// yamlParserErrors are the messages of the YAML parser proper, as
// opposed to its scanner. The parser reports their line counted from 0
// (the scanner's from 1), so a document broken on line 10 says line 9;
// kustomize passes that on, counted from the document's own start.
var yamlParserErrors = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected key",
	"did not find expected '-' indicator",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
	"found undefined tag handle",
}

// yamlError returns the 1-based line a YAML syntax error is about and
// its message without the parser's own prefix and line.
func yamlError(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLinePrefix.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		for _, p := range yamlParserErrors {
			if strings.HasPrefix(msg, p) {
				line++
				break
			}
		}
	}
	if line < 1 {
		line = 1
	}
	return line, strings.TrimSpace(msg)
}

var yamlLinePrefix = regexp.MustCompile(`^line (\d+): `)

func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return max(n, 1)
}
