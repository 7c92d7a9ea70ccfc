package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
)

// bindJSON decodes an admin request body into dst. Unlike the inbound URL,
// the admin API rejects unknown fields: its callers are our own CLI and
// scripts, where a typo should fail loudly. fields lists the accepted names,
// for the error message.
func bindJSON(c echo.Context, dst any, fields ...string) error {
	req := c.Request()
	if err := checkJSONContentType(req.Header.Get(echo.HeaderContentType)); err != nil {
		return err
	}
	body, err := readLimited(req, adminBodyLimit)
	if err != nil {
		return err
	}
	accepts := "send a JSON object"
	if len(fields) > 0 {
		accepts = "send a JSON object with " + quoteList(fields)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return wagate.Errorf(wagate.EINVALID, "request body is empty; %s", accepts)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bindError(err, accepts)
	}
	if _, err := dec.Token(); err != io.EOF {
		return wagate.Errorf(wagate.EINVALID, "request body has data after the JSON object; %s", accepts)
	}
	return checkBodyNUL(body) // nul.go
}

func bindError(err error, accepts string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return wagate.Errorf(wagate.EINVALID, "request body is not valid JSON: %s at offset %d; %s", se.Error(), se.Offset, accepts)
	case errors.As(err, &te):
		if te.Field == "" {
			return wagate.Errorf(wagate.EINVALID, "request body is a JSON %s, not an object; %s", te.Value, accepts)
		}
		return wagate.Errorf(wagate.EINVALID, "field %q must be %s, not a JSON %s", te.Field, goTypeName(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return wagate.Errorf(wagate.EINVALID, "request body is cut short: the JSON is incomplete; %s", accepts)
	}
	// encoding/json reports an unknown field only as text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return wagate.Errorf(wagate.EINVALID, "unknown field %s; %s", cut(name, 60), accepts)
	}
	return wagate.Errorf(wagate.EINVALID, "request body is not valid JSON; %s", accepts)
}

// goTypeName says in JSON words what a Go kind expects.
func goTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "ptr":
		return "a value"
	}
	return fmt.Sprintf("a %s", kind)
}
