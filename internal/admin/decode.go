package admin

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// DefaultMaxBodyBytes caps request bodies when Config.MaxBodyBytes is 0.
// The largest legitimate body (a create request with metadata) is a few KiB.
const DefaultMaxBodyBytes = 64 << 10

// maxJSONDepth caps nesting: no request of this API is deeper than 3, and a
// cap keeps a hostile body from costing a deep recursion.
const maxJSONDepth = 16

// bodyRule says whether an endpoint needs a body or can do without one.
type bodyRule int

const (
	bodyRequired bodyRule = iota
	bodyOptional          // an empty body leaves v at its zero value
)

// decodeJSON is the one place request bodies are read. It applies every rule
// of this API's JSON input and returns an *auth.Error for each violation:
// ETOOLARGE over the size limit, EINVALID for a missing body, a Content-Type
// that is not JSON, invalid UTF-8 (which encoding/json would silently
// replace), anything but one JSON object, unknown members (also those that
// differ from a known one only by case, which encoding/json would accept),
// duplicate members, wrong types and trailing data. Messages name the field
// but never repeat a value, since a value may be a key.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, rule bodyRule, v any) error {
	// The body is only read here: what v receives is copied out of it.
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer releaseBodyBuffer(buf)
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	body := buf.Bytes()
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return auth.Errorf(auth.ETOOLARGE, "The request body is larger than %d bytes.", limit)
		}
		return auth.Errorf(auth.EINVALID, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if rule == bodyOptional {
			return nil
		}
		return auth.Errorf(auth.EINVALID, "A JSON request body is required.")
	}
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	return decodeJSONBytes(body, v)
}

// bodyBuffers holds the buffers request bodies are read into.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody caps the buffers kept for reuse, whatever MaxBodyBytes is.
const maxPooledBody = DefaultMaxBodyBytes

func releaseBodyBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBody {
		return
	}
	b.Reset()
	bodyBuffers.Put(b)
}

// checkJSONContentType accepts application/json and any +json type, in
// UTF-8 (RFC 8259 section 8.1 allows no other charset).
func checkJSONContentType(ct string) error {
	if ct == "application/json" {
		return nil // the usual case, which needs no parsing
	}
	if ct == "" {
		return auth.Errorf(auth.EINVALID, "Content-Type must be application/json.")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return auth.Errorf(auth.EINVALID, "Content-Type must be application/json.")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return auth.Errorf(auth.EINVALID, "The request body must be encoded in UTF-8.")
	}
	return nil
}

// decodeJSONBytes decodes one JSON object from body into v (a pointer to a
// struct) under the rules listed at decodeJSON.
//
// Both passes use github.com/go-json-experiment/json (encoding/json/v2):
// its jsontext tokenizer reads without allocating and rejects duplicate
// names itself, and its Unmarshal matches names case-sensitively. Neither
// keeps a reference to body.
func decodeJSONBytes(body []byte, v any) error {
	if !utf8.Valid(body) {
		return auth.Errorf(auth.EINVALID, "The request body is not valid UTF-8.")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return auth.Errorf(auth.EINVALID, "The request body must be a JSON object.")
	}

	// First pass: syntax, member names, duplicates, nulls and depth, with
	// messages that name the member; it also finds trailing data.
	t := reflect.TypeOf(v)
	if err := checkBody(body, t); err != nil {
		return err
	}

	// Second pass: types and ranges. Rejecting unknown members cannot fire
	// after the first pass; it stays as a second lock on the same door.
	if err := jsonv2.Unmarshal(body, v, secondPassOptions); err != nil {
		return typeError(err, t)
	}
	return nil
}

// Both passes leave invalid UTF-8 to decodeJSONBytes, which has refused it
// before they run. What is left is an escaped lone surrogate ("\ud800"):
// encoding/json read it as U+FFFD, and the API has always accepted it so.
var (
	firstPassOptions  = jsontext.AllowInvalidUTF8(true)
	secondPassOptions = jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true), jsontext.AllowInvalidUTF8(true))
)

// memberDecoder is the tokenizer of the first pass, pooled with its state.
// A jsontext.Decoder reading a bytes.Buffer parses the buffer in place.
type memberDecoder struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

var memberDecoders = sync.Pool{New: func() any { return new(memberDecoder) }}

// checkBody checks body, which starts with '{', against the type t it will
// be decoded into, under the rules of checkMembers, and checks that nothing
// but whitespace follows the object.
func checkBody(body []byte, t reflect.Type) error {
	md := memberDecoders.Get().(*memberDecoder)
	defer func() {
		md.buf = bytes.Buffer{} // drop the reference to body
		md.dec.Reset(&md.buf)
		memberDecoders.Put(md)
	}()
	md.buf = *bytes.NewBuffer(body)
	md.dec.Reset(&md.buf, firstPassOptions)
	if err := checkMembers(&md.dec, t, "", 0); err != nil {
		return err
	}
	if _, err := md.dec.ReadToken(); err != io.EOF {
		return auth.Errorf(auth.EINVALID, "The request body has data after the JSON object.")
	}
	return nil
}

// checkMembers reads one JSON value from dec and checks, against the Go type
// t it will be decoded into, that object member names are known exactly and
// appear once (dec refuses a repeated name), that only optional members are
// null and that nesting stays within maxJSONDepth. path names the value in
// messages.
func checkMembers(dec *jsontext.Decoder, t reflect.Type, path string, depth int) error {
	if depth > maxJSONDepth {
		return auth.Errorf(auth.EINVALID, "The request body is nested too deeply.")
	}
	// Unmarshal decodes null into a string, list or map as the zero value:
	// {"metadata": {"k": null}} would store "k": "". Only pointer members
	// (optional objects) may be null.
	nullable := t == nil || t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface
	if t != nil && t.Kind() == reflect.Struct && t.Implements(nullableType) {
		// A PATCH member where null means "remove" (see Nullable): the
		// value, when not null, is checked as the type it holds.
		nullable, t = true, reflect.Zero(t).Interface().(nullableMember).valueType()
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return syntaxError(err, path)
	}
	switch tok.Kind() {
	case 'n':
		if !nullable {
			return auth.Errorf(auth.EINVALID, "The member %s must be %s, not null.", quoteName(path), describeType(t))
		}
		return nil
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for more(dec) {
			if err := checkMembers(dec, elem, path, depth+1); err != nil {
				return err
			}
		}
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		switch {
		case t != nil && t.Kind() == reflect.Struct:
			fields = cachedJSONFields(t)
		case t != nil && t.Kind() == reflect.Map:
			elem = t.Elem()
		}
		for more(dec) {
			tok, err := dec.ReadToken()
			if err != nil {
				return syntaxError(err, path)
			}
			name := tok.String() // object names are always strings
			member := joinPath(path, name)
			next := elem
			if fields != nil {
				ft, ok := fields[name]
				if !ok {
					return unknownField(member, fields)
				}
				next = ft
			}
			if err := checkMembers(dec, next, member, depth+1); err != nil {
				return err
			}
		}
	default:
		return nil // a scalar: its type is checked by the second pass
	}
	// The closing delimiter, or the error that ended the loop.
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err, path)
	}
	return nil
}

// more reports whether another element or member may follow in the current
// array or object: not before its closing delimiter, nor at the end of the
// input, which then "ends early" whatever the depth. Before a syntax error
// it reports true, and the next ReadToken returns the error.
func more(dec *jsontext.Decoder) bool {
	switch dec.PeekKind() {
	case ']', '}':
		return false
	case jsontext.KindInvalid:
		return len(bytes.TrimLeft(dec.UnreadBuffer(), " \t\r\n")) > 0
	default:
		return true
	}
}

// syntaxError turns an error of the first pass, met in the value named
// path, into a caller-safe *auth.Error. The texts of jsontext can quote
// input, so none is passed on.
func syntaxError(err error, path string) error {
	var syntax *jsontext.SyntacticError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return auth.Errorf(auth.EINVALID, "The request body is not valid JSON: it ends early.")
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syntax):
		member := joinPath(path, syntax.JSONPointer.LastToken())
		return auth.Errorf(auth.EINVALID, "The member %s appears more than once.", quoteName(member))
	case errors.As(err, &syntax):
		return auth.Errorf(auth.EINVALID, "The request body is not valid JSON (at byte %d).", syntax.ByteOffset)
	default:
		return auth.Errorf(auth.EINVALID, "The request body is not valid JSON.")
	}
}

// typeError turns an error of the second pass into a caller-safe
// *auth.Error that names the member the way encoding/json did (see
// fieldPath) and the type it must have. t is the type of the decoded value.
func typeError(err error, t reflect.Type) error {
	var sem *jsonv2.SemanticError
	switch {
	case errors.As(err, new(*jsontext.SyntacticError)):
		return syntaxError(err, "") // the first pass found none; kept for safety
	case errors.Is(err, jsonv2.ErrUnknownName), !errors.As(err, &sem), sem.GoType == nil:
		// Unknown members were reported by the first pass; keep the text
		// generic all the same.
		return auth.Errorf(auth.EINVALID, "The request body does not match the expected schema.")
	}
	field := fieldPath(t, sem.JSONPointer)
	if field == "" {
		return auth.Errorf(auth.EINVALID, "The request body must be a JSON object.")
	}
	return auth.Errorf(auth.EINVALID, "The member %s must be %s.", quoteName(field), describeType(sem.GoType))
}

// fieldPath names the value at p in a value of type t as encoding/json's
// UnmarshalTypeError.Field did: the struct members on the way, joined with
// dots, leaving out array indices and map keys ({"scopes": [1]} names
// "scopes", {"metadata": {"k": 1}} names "metadata").
func fieldPath(t reflect.Type, p jsontext.Pointer) string {
	var path string
	for tok := range p.Tokens() {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			ft, ok := cachedJSONFields(t)[tok]
			if !ok {
				return path
			}
			if ft.Kind() == reflect.Struct && ft.Implements(nullableType) {
				ft = reflect.Zero(ft).Interface().(nullableMember).valueType()
			}
			path, t = joinPath(path, tok), ft
		case reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return path
		}
	}
	return path
}

// jsonFieldCache holds the jsonFields of each struct type met, computed once.
var jsonFieldCache sync.Map // reflect.Type → map[string]reflect.Type

func cachedJSONFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := jsonFieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f, _ := jsonFieldCache.LoadOrStore(t, jsonFields(t))
	return f.(map[string]reflect.Type)
}

// jsonFields lists the JSON member names of struct type t, flattening
// embedded structs the way encoding/json does for the types of this package.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n, ft := range jsonFields(f.Type) {
				fields[n] = ft
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func unknownField(member string, fields map[string]reflect.Type) error {
	_, last := splitPath(member)
	for known := range fields {
		if strings.EqualFold(known, last) {
			return auth.Errorf(auth.EINVALID, "Unknown member %s: member names are case-sensitive (did you mean %q?).", quoteName(member), known)
		}
	}
	return auth.Errorf(auth.EINVALID, "Unknown member %s.", quoteName(member))
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func splitPath(p string) (parent, last string) {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// quoteName quotes a name taken from the request for a message. Our own
// names are short identifiers; anything longer than 32 bytes (every API key
// is at least 40) or with unusual characters might be a key pasted in the
// wrong place, so it is not shown.
func quoteName(name string) string {
	if len(name) > 32 {
		return "(name not shown)"
	}
	for _, c := range name {
		if !(c == '_' || c == '-' || c == '.' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')) {
			return "(name not shown)"
		}
	}
	return strconv.Quote(name)
}

// describeType names a Go type in JSON terms for a message.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number in range"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	case reflect.Map:
		return "an object whose values are " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	case reflect.Pointer:
		return describeType(t.Elem())
	default:
		return "an object"
	}
}

// maxQueryValue caps each query parameter; no legitimate value (an owner, an
// ID, a cursor) comes close.
const maxQueryValue = 1024

// parseQuery parses the query string strictly: only the allowed names, each
// at most once, valid UTF-8, bounded length. A typo in a filter must be an
// error, not a silently unfiltered list.
func parseQuery(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, auth.Errorf(auth.EINVALID, "The query string is malformed.")
	}
	for name, vals := range q {
		if !slices.Contains(allowed, name) {
			return nil, auth.Errorf(auth.EINVALID, "Unknown query parameter %s; allowed: %s.", quoteName(name), strings.Join(allowed, ", "))
		}
		if len(vals) > 1 {
			return nil, auth.Errorf(auth.EINVALID, "The query parameter %q is given more than once.", name)
		}
		if !utf8.ValidString(vals[0]) || len(vals[0]) > maxQueryValue || hasControl(vals[0]) {
			return nil, auth.Errorf(auth.EINVALID, "The query parameter %q is not printable UTF-8 of at most %d bytes.", name, maxQueryValue)
		}
	}
	return q, nil
}

// defaultPageSize is the page size of lists that name no limit.
const defaultPageSize = 100

// pageLimit reads the limit parameter: 1..auth.MaxPageSize, default
// defaultPageSize.
func pageLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > auth.MaxPageSize {
		return 0, auth.Errorf(auth.EINVALID, "The query parameter \"limit\" must be an integer from 1 to %d.", auth.MaxPageSize)
	}
	return n, nil
}

// boolParam reads a boolean parameter: "true" or "false" only, so that a
// value like "yes" is refused rather than read as false.
func boolParam(q url.Values, name string) (bool, error) {
	switch q.Get(name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, auth.Errorf(auth.EINVALID, "The query parameter %q must be true or false.", name)
	}
}

// maxIDLen caps IDs taken from the path; generated IDs are far shorter.
const maxIDLen = 128

// pathID reads the {id} path value.
// hasControl reports whether s holds a control character: no ID or filter
// value has one, and some (NUL) cannot even reach PostgreSQL.
func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

func pathID(r *http.Request) (string, error) {
	return pathValue(r, "id", "key ID")
}

// pathValue reads the path value name, which what describes in errors.
func pathValue(r *http.Request, name, what string) (string, error) {
	id := r.PathValue(name)
	if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) || hasControl(id) {
		return "", auth.Errorf(auth.EINVALID, "The %s in the path is malformed.", what)
	}
	return id, nil
}
