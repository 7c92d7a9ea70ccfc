package gateway

import (
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wagate/wagate"
)

// gzipSlack is how much larger than the decoded limit a gzip body may be:
// deflate stores incompressible data with 5 bytes per 64 KiB block, and
// the gzip header and trailer take 18 bytes (more with a file name). A
// longer compressed body cannot decode to at most the limit, or pads it.
const gzipSlack = 1 << 10

// checkInboundContentType is SPEC §1's rule for the inbound URL: JSON
// (application/json, or any application/…+json), text/plain (no-code tools
// and a browser fetch without a preflight send JSON so), or no Content-Type
// at all are read as JSON, with no charset or a UTF-8 one. Form, multipart
// and anything else is a 415.
func checkInboundContentType(ct string) error {
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "text/plain" {
		return checkCharset(ct)
	}
	return checkJSONContentType(ct)
}

// checkCharset accepts a media type without a charset or with a UTF-8 one.
func checkCharset(ct string) error {
	_, params, _ := mime.ParseMediaType(ct)
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return wagate.Errorf(wagate.EMEDIATYPE, "charset %q is not supported; send UTF-8 JSON (charset=utf-8, or no charset)", cut(cs, 40))
	}
	return nil
}

// inboundGzipped reads the Content-Encoding of an inbound request: none
// (or identity), or gzip. Any other is a 415.
func inboundGzipped(h http.Header) (bool, error) {
	enc := strings.TrimSpace(strings.Join(h.Values(echo.HeaderContentEncoding), ","))
	switch strings.ToLower(enc) {
	case "", "identity":
		return false, nil
	case "gzip", "x-gzip":
		return true, nil
	}
	return false, wagate.Errorf(wagate.EMEDIATYPE, "Content-Encoding %q is not supported; send the body uncompressed, or compressed with Content-Encoding: gzip", cut(enc, 40))
}

// readInbound reads an inbound body, decoding it when gzipped. The limit
// applies to the decoded body.
func readInbound(req *http.Request, limit int64, gzipped bool) ([]byte, error) {
	if !gzipped {
		return readLimited(req, limit)
	}
	return readGzip(req.Body, req.ContentLength, limit)
}

// readGzip decodes a gzip body. It reads at most limit+1 decoded bytes, so
// a small body that inflates to gigabytes (a gzip bomb) costs no more than
// a body at the limit, and at most limit+gzipSlack+1 compressed bytes.
// Errors: 413 when either is exceeded, 400 for a body that is not gzip.
func readGzip(body io.Reader, contentLength, limit int64) ([]byte, error) {
	tooLarge := func() error {
		return wagate.Errorf(wagate.ETOOLARGE, "request body is larger than %d KiB once gunzipped; send a smaller JSON object (attach large files with file_url)", limit>>10)
	}
	corrupt := func(err error) error {
		return wagate.Errorf(wagate.EINVALID, "request body is not valid gzip data (Content-Encoding: gzip): %s; send the gzip-compressed JSON, or leave out Content-Encoding and send it uncompressed", cut(err.Error(), 80))
	}
	if contentLength > limit+gzipSlack {
		return nil, tooLarge()
	}
	raw := &io.LimitedReader{R: body, N: limit + gzipSlack + 1}
	zr, err := gzip.NewReader(raw)
	if err != nil {
		if raw.N == 0 {
			return nil, tooLarge()
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("the body is empty")
		}
		return nil, corrupt(err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	switch {
	case int64(len(out)) > limit || raw.N == 0:
		return out, tooLarge()
	case err != nil:
		return out, corrupt(err)
	}
	return out, nil
}
