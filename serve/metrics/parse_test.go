package metrics

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Exposition is a parsed text exposition: samples by series key
// ("name{a="x",b="y"}" with labels sorted) and family types by name.
type Exposition struct {
	Samples map[string]float64
	Types   map[string]string
}

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// ParseExposition checks text against the grammar of the Prometheus text
// format 0.0.4 and the rules a scraper relies on: HELP then TYPE per
// family, each family once, samples only under their family, valid names,
// escapes and values, no duplicate series, histograms with cumulative
// buckets whose +Inf equals _count. It is exported to the package's tests
// only (this is a _test file).
func ParseExposition(text string) (*Exposition, error) {
	e := &Exposition{Samples: map[string]float64{}, Types: map[string]string{}}
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("exposition does not end in a newline")
	}
	family, typ := "", ""
	helped := map[string]bool{}
	type hist struct {
		last  float64
		inf   float64
		count float64
		seen  bool
	}
	hists := map[string]*hist{} // by series key without le
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(f string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(f, a...))
		}
		switch {
		case strings.HasPrefix(line, "# HELP "):
			f := strings.SplitN(line[len("# HELP "):], " ", 2)
			if len(f) != 2 || !nameRE.MatchString(f[0]) {
				return nil, fail("bad HELP")
			}
			if helped[f[0]] {
				return nil, fail("second HELP for %s", f[0])
			}
			if err := checkEscapes(f[1], false); err != nil {
				return nil, fail("%v", err)
			}
			helped[f[0]] = true
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Split(line[len("# TYPE "):], " ")
			if len(f) != 2 || !nameRE.MatchString(f[0]) {
				return nil, fail("bad TYPE")
			}
			switch f[1] {
			case TypeCounter, TypeGauge, TypeHistogram:
			default:
				return nil, fail("unknown type %q", f[1])
			}
			if _, dup := e.Types[f[0]]; dup {
				return nil, fail("family %s declared twice", f[0])
			}
			family, typ = f[0], f[1]
			e.Types[family] = typ
		case strings.HasPrefix(line, "#"):
			return nil, fail("unexpected comment")
		case line == "":
			return nil, fail("empty line")
		default:
			name, labels, rest, err := parseSeries(line)
			if err != nil {
				return nil, fail("%v", err)
			}
			suffix, ok := strings.CutPrefix(name, family)
			if family == "" || !ok {
				return nil, fail("sample outside its family %q", family)
			}
			switch {
			case suffix == "" && typ != TypeHistogram:
			case typ == TypeHistogram && (suffix == "_bucket" || suffix == "_sum" || suffix == "_count"):
			default:
				return nil, fail("sample name %s does not fit %s family %s", name, typ, family)
			}
			v, err := parseValue(rest)
			if err != nil {
				return nil, fail("%v", err)
			}
			if typ == TypeCounter && (v < 0 || math.IsNaN(v)) {
				return nil, fail("counter value %v", v)
			}
			key := seriesKey(name, labels)
			if _, dup := e.Samples[key]; dup {
				return nil, fail("duplicate series %s", key)
			}
			e.Samples[key] = v
			if typ == TypeHistogram {
				le, hasLE := labels["le"]
				delete(labels, "le")
				hk := seriesKey(family, labels)
				h := hists[hk]
				if h == nil {
					h = &hist{inf: -1, count: -1}
					hists[hk] = h
				}
				switch suffix {
				case "_bucket":
					if !hasLE {
						return nil, fail("bucket without le")
					}
					if h.seen && v < h.last {
						return nil, fail("buckets not cumulative")
					}
					h.last, h.seen = v, true
					if le == "+Inf" {
						h.inf = v
					} else if _, err := strconv.ParseFloat(le, 64); err != nil {
						return nil, fail("bad le %q", le)
					}
				case "_count":
					h.count = v
				}
			}
		}
	}
	for k, h := range hists {
		if h.inf < 0 || h.count < 0 || h.inf != h.count {
			return nil, fmt.Errorf("histogram %s: +Inf bucket %v, _count %v", k, h.inf, h.count)
		}
	}
	for f := range e.Types {
		if !helped[f] {
			return nil, fmt.Errorf("family %s has no HELP", f)
		}
	}
	return e, nil
}

// parseSeries splits `name{k="v",...} rest`, unescaping label values.
func parseSeries(line string) (name string, labels map[string]string, rest string, err error) {
	labels = map[string]string{}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", nil, "", fmt.Errorf("no value")
	}
	name = line[:i]
	if !nameRE.MatchString(name) {
		return "", nil, "", fmt.Errorf("bad metric name %q", name)
	}
	s := line[i:]
	if s[0] == '{' {
		s = s[1:]
		for {
			if strings.HasPrefix(s, "}") {
				s = s[1:]
				break
			}
			eq := strings.Index(s, `="`)
			if eq < 0 {
				return "", nil, "", fmt.Errorf("bad label")
			}
			k := s[:eq]
			if !labelRE.MatchString(k) {
				return "", nil, "", fmt.Errorf("bad label name %q", k)
			}
			s = s[eq+2:]
			var v strings.Builder
			j := 0
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
					if j == len(s) {
						return "", nil, "", fmt.Errorf("dangling escape")
					}
					switch s[j] {
					case '\\', '"':
						v.WriteByte(s[j])
					case 'n':
						v.WriteByte('\n')
					default:
						return "", nil, "", fmt.Errorf("bad escape \\%c", s[j])
					}
					continue
				}
				v.WriteByte(s[j])
			}
			if j == len(s) {
				return "", nil, "", fmt.Errorf("unterminated label value")
			}
			if _, dup := labels[k]; dup {
				return "", nil, "", fmt.Errorf("label %s twice", k)
			}
			labels[k] = v.String()
			s = s[j+1:]
			if strings.HasPrefix(s, ",") {
				s = s[1:]
			} else if !strings.HasPrefix(s, "}") {
				return "", nil, "", fmt.Errorf("expected , or }")
			}
		}
	}
	if !strings.HasPrefix(s, " ") {
		return "", nil, "", fmt.Errorf("no space before value")
	}
	return name, labels, s[1:], nil
}

func parseValue(s string) (float64, error) {
	f := strings.Split(s, " ")
	if len(f) > 2 || f[0] == "" {
		return 0, fmt.Errorf("bad value %q", s)
	}
	if len(f) == 2 { // optional timestamp
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return 0, fmt.Errorf("bad timestamp %q", f[1])
		}
	}
	switch f[0] {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(f[0], 64)
}

func checkEscapes(s string, quote bool) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			return fmt.Errorf("raw newline")
		case '\\':
			i++
			if i == len(s) || (s[i] != '\\' && s[i] != 'n' && !(quote && s[i] == '"')) {
				return fmt.Errorf("bad escape")
			}
		}
	}
	return nil
}

// seriesKey renders name{k="v",...} with labels sorted and unescaped
// values quoted with %q (test lookups only).
func seriesKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Get returns the sample name with labels given as pairs, and whether it
// exists.
func (e *Exposition) Get(name string, labels ...string) (float64, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		m[labels[i]] = labels[i+1]
	}
	v, ok := e.Samples[seriesKey(name, m)]
	return v, ok
}
