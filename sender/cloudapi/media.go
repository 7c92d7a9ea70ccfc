package cloudapi

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"net/textproto"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// MaxCaption is the longest caption, in characters, Meta takes on an image,
// a video or a document. A longer text goes as a text message of its own.
const MaxCaption = 1024

// The Cloud API message types a file can become.
const (
	kindImage    = "image"
	kindVideo    = "video"
	kindAudio    = "audio"
	kindDocument = "document"
)

// mediaKind chooses the message type for a (normalized) MIME type, among
// the four SPEC §8 names. Meta's media rules decide it:
//
//	image/jpeg, image/png                          → image    (caption)
//	video/mp4, video/3gpp                          → video    (caption)
//	audio/aac, amr, mpeg, mp4, ogg                 → audio    (no caption)
//	anything else                                  → document (caption, filename)
//
// Other images (WebP, GIF, BMP, HEIC…) and audio formats are not Meta's
// image or audio types: WebP would only go as a sticker, which must be a
// 512×512 picture under 100 KB and takes no caption, so an ordinary WebP
// photo would fail. They go as documents, which take any file; Meta's
// upload refuses the types it takes in no form (code 100, naming the
// accepted list), and the message fails with that answer.
func mediaKind(mimeType string) string {
	switch mimeType {
	case "image/jpeg", "image/png":
		return kindImage
	case "video/mp4", "video/3gpp":
		return kindVideo
	case "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg":
		return kindAudio
	}
	return kindDocument
}

// takesCaption says whether Meta accepts a caption on a message type.
func takesCaption(kind string) bool {
	return kind == kindImage || kind == kindVideo || kind == kindDocument
}

// mimeTypeOf is the attachment's type as Meta's upload wants it: the media
// type without parameters ("text/plain; charset=utf-8" → "text/plain").
// The type itself was sniffed and refined once, by the fetcher (sender/fetch:
// Ogg Opus as audio/ogg, Office files by their container and name, AMR…).
func mimeTypeOf(contentType string) string {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		t = strings.ToLower(strings.TrimSpace(contentType))
	}
	if t == "" {
		return "application/octet-stream"
	}
	return t
}

// plan decides what one wagate message becomes: the caption of its file,
// and whether its text goes as a text message of its own after the file.
// The text rides as the caption when the file's type takes one and it fits
// in MaxCaption characters; otherwise (audio, a longer text) the
// file goes first without a caption and the text follows as a second
// message, at no extra credit. File first, because the file is what may be
// refused (its upload and its send come first), and a refusal then leaves
// nothing half delivered; and the text then reads under the file, where a
// caption would be.
func plan(kind, text string) (caption string, separate bool) {
	if text == "" {
		return "", false
	}
	if takesCaption(kind) && utf8.RuneCountInString(text) <= MaxCaption {
		return text, false
	}
	return "", true
}

// uploadForm builds the multipart body of POST /{phone_number_id}/media.
// The file part carries the real MIME type: multipart.Writer.CreateFormFile
// would label it application/octet-stream, which Meta refuses.
func uploadForm(mimeType, name string, data []byte) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField("messaging_product", "whatsapp"); err != nil {
		return nil, "", err
	}
	if err := w.WriteField("type", mimeType); err != nil {
		return nil, "", err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, partFileName(name)))
	h.Set("Content-Type", mimeType)
	p, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := p.Write(data); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// partFileName makes the upload part's file name safe to quote in a header:
// ASCII letters, digits, dot, dash and underscore, others replaced. The name
// the recipient sees is the document's "filename" in the message, which is
// sent as it is; this one only labels the upload.
func partFileName(name string) string {
	var b strings.Builder
	for _, r := range filepath.Base(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 100 {
			break
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		return "file"
	}
	return s
}
