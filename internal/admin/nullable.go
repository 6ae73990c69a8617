package admin

import (
	"reflect"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Nullable is a member of a PATCH body that may be null, which (as in JSON
// merge patch, RFC 7396) removes the setting: Set reports that the member
// was present, Null that it was null; otherwise Value holds it. An absent
// member leaves the setting as it is, and is left out when encoding.
type Nullable[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// Some is a present, non-null member.
func Some[T any](v T) Nullable[T] { return Nullable[T]{Set: true, Value: v} }

// Null is a member present as null.
func Null[T any]() Nullable[T] { return Nullable[T]{Set: true, Null: true} }

// UnmarshalJSONFrom is what decodeJSON's second pass calls, only for a
// present member (null included). Decoding from the decoder, rather than
// from a copy of the value, keeps the error's position in the body, so
// messages name the member ("credits.refill.amount").
func (n *Nullable[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	n.Set = true
	if dec.PeekKind() == 'n' {
		n.Null = true
		_, err := dec.ReadToken()
		return err
	}
	return jsonv2.UnmarshalDecode(dec, &n.Value)
}

// UnmarshalJSON is for encoding/json: called only for a present member.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Null = true
		return nil
	}
	return jsonv2.Unmarshal(b, &n.Value, secondPassOptions)
}

// MarshalJSON writes null or the value.
func (n Nullable[T]) MarshalJSON() ([]byte, error) {
	if n.Null || !n.Set {
		return []byte("null"), nil
	}
	return jsonv2.Marshal(n.Value)
}

// IsZero makes an absent member omitted (with omitzero).
func (n Nullable[T]) IsZero() bool { return !n.Set }

func (Nullable[T]) valueType() reflect.Type { return reflect.TypeFor[T]() }

// nullableMember is what decodeJSON's first pass knows of a Nullable.
type nullableMember interface{ valueType() reflect.Type }

var nullableType = reflect.TypeFor[nullableMember]()
