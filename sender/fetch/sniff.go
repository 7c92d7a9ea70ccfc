package fetch

import (
	"bytes"
	"net/http"
	"path"
	"strings"
)

// The sniffed results that say little: a transport cannot upload a Word file
// as "application/zip" or a voice note as "application/ogg" (Meta's Cloud API
// wants the real type), so refine narrows them.
const (
	typeOctetStream = "application/octet-stream"
	typeZip         = "application/zip"
	typeOgg         = "application/ogg"
	typeTextPlain   = "text/plain"
)

// zipTypes are the zip containers WhatsApp knows as documents. A zip's
// bytes alone do not say whether it is a .docx or a .xlsx; its name does.
var zipTypes = map[string]string{
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text",
	".ods":  "application/vnd.oasis.opendocument.spreadsheet",
	".odp":  "application/vnd.oasis.opendocument.presentation",
	".epub": "application/epub+zip",
}

// oleTypes are the legacy Office formats, stored in an OLE compound file
// (magic oleMagic); again only the name tells them apart.
var oleTypes = map[string]string{
	".doc": "application/msword",
	".xls": "application/vnd.ms-excel",
	".ppt": "application/vnd.ms-powerpoint",
}

// textTypes are plain-text formats with a type of their own. The sniffed
// parameters (the charset) are kept.
var textTypes = map[string]string{
	".csv": "text/csv",
	".tsv": "text/tab-separated-values",
	".vcf": "text/vcard",
	".ics": "text/calendar",
}

var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// contentType returns the type of data: http.DetectContentType's answer,
// refined when that answer is generic (see refine). The Content-Type header
// of the file host is never read: it is often wrong (share pages served as
// application/octet-stream, PNGs as text/plain), and a header cannot make
// bytes what they are not.
func contentType(data []byte, names ...string) string {
	return refine(http.DetectContentType(data), data, names...)
}

// refine narrows a generic sniffed type, by more magic numbers than
// http.DetectContentType knows (AMR, AAC, 3GP, M4A, QuickTime, Ogg
// Opus/Vorbis, OLE) and, only where the bytes already prove the container,
// by the extension of the first of names that has one (the file_name, then
// the last URL path). An extension never turns bytes into a family they do
// not belong to: a file named report.pdf whose bytes are text stays
// text/plain.
func refine(sniffed string, data []byte, names ...string) string {
	ext := ""
	for _, n := range names {
		if e := strings.ToLower(path.Ext(n)); e != "" {
			ext = e
			break
		}
	}
	base, params, _ := strings.Cut(sniffed, ";")
	switch base {
	case typeZip:
		if t, ok := zipTypes[ext]; ok {
			return t
		}
	case typeOgg:
		head := data[:min(len(data), 64)]
		switch {
		case bytes.Contains(head, []byte("OpusHead")), bytes.Contains(head, []byte("\x01vorbis")):
			return "audio/ogg"
		case bytes.Contains(head, []byte("\x80theora")):
			return "video/ogg"
		}
	case typeTextPlain:
		if t, ok := textTypes[ext]; ok {
			if params != "" {
				return t + ";" + params
			}
			return t
		}
	case typeOctetStream:
		if t := sniffMore(data, ext); t != "" {
			return t
		}
	}
	return sniffed
}

// sniffMore recognises formats WhatsApp accepts that http.DetectContentType
// does not know. Signatures that random bytes could match by chance (the
// MPEG frame sync) also need the matching extension.
func sniffMore(data []byte, ext string) string {
	switch {
	case bytes.HasPrefix(data, oleMagic):
		return oleTypes[ext]
	case bytes.HasPrefix(data, []byte("#!AMR-WB\n")):
		return "audio/amr-wb"
	case bytes.HasPrefix(data, []byte("#!AMR\n")):
		return "audio/amr"
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		brand := string(data[8:12])
		switch {
		case strings.HasPrefix(brand, "3gp"):
			return "video/3gpp"
		case strings.HasPrefix(brand, "3g2"):
			return "video/3gpp2"
		case brand == "M4A ":
			return "audio/mp4"
		case brand == "qt  ":
			return "video/quicktime"
		}
	case len(data) >= 2 && data[0] == 0xFF && data[1]&0xE0 == 0xE0:
		// An MPEG audio frame sync: ADTS AAC has 12 sync bits and layer
		// bits 00; MP3 has 11 sync bits and a layer other than 00.
		switch {
		case data[1]&0xF6 == 0xF0 && ext == ".aac":
			return "audio/aac"
		case data[1]&0x06 != 0 && ext == ".mp3":
			return "audio/mpeg"
		}
	}
	return ""
}

// isWebPage reports whether data is an HTML page: what http.DetectContentType
// calls text/html, also behind a UTF-8 byte order mark (which makes it say
// text/plain), and XHTML (which it calls text/xml).
func isWebPage(data []byte) bool {
	head := bytes.TrimPrefix(data[:min(len(data), 512)], []byte("\xEF\xBB\xBF"))
	sniffed := http.DetectContentType(head)
	switch {
	case strings.HasPrefix(sniffed, "text/html"):
		return true
	case strings.HasPrefix(sniffed, "text/xml"):
		return bytes.Contains(bytes.ToLower(head), []byte("<html"))
	}
	return false
}
