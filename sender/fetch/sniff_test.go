package fetch

import (
	"archive/zip"
	"bytes"
	"testing"
)

func zipBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("[Content_Types].xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(`<?xml version="1.0"?><Types/>`)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestContentType(t *testing.T) {
	zipped := zipBytes(t)
	ole := append(append([]byte{}, oleMagic...), make([]byte, 64)...)
	ogg := func(codec string) []byte {
		b := append([]byte("OggS\x00\x02"), make([]byte, 22)...)
		return append(b, codec...)
	}
	ftyp := func(brand string) []byte {
		return append([]byte("\x00\x00\x00\x18ftyp"+brand), make([]byte, 16)...)
	}
	tests := []struct {
		name  string
		data  []byte
		names []string
		want  string
	}{
		{"png whatever its name", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), []string{"a.txt"}, "image/png"},
		{"pdf", []byte("%PDF-1.7\n"), []string{"a.docx"}, "application/pdf"},
		{"docx", zipped, []string{"Report.DOCX"}, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"xlsx from the URL path", zipped, []string{"sheet", "sheet.xlsx"}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"file_name wins over the URL path", zipped, []string{"a.pptx", "a.xlsx"}, "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
		{"plain zip", zipped, []string{"archive.zip"}, "application/zip"},
		{"zip with an unknown extension", zipped, []string{"a.bin"}, "application/zip"},
		{"doc", ole, []string{"letter.doc"}, "application/msword"},
		{"xls", ole, []string{"a.xls"}, "application/vnd.ms-excel"},
		{"ole without a known extension", ole, []string{"a.msg"}, "application/octet-stream"},
		{"docx name on OLE bytes stays generic", ole, []string{"a.docx"}, "application/octet-stream"},
		{"csv", []byte("a,b\n1,2\n"), []string{"data.csv"}, "text/csv; charset=utf-8"},
		{"txt", []byte("hello\n"), []string{"notes.txt"}, "text/plain; charset=utf-8"},
		{"text named .pdf stays text", []byte("hello\n"), []string{"notes.pdf"}, "text/plain; charset=utf-8"},
		{"zip named .csv stays zip", zipped, []string{"a.csv"}, "application/zip"},
		{"amr", []byte("#!AMR\n\x3c\x00"), []string{"voice"}, "audio/amr"},
		{"amr-wb", []byte("#!AMR-WB\n\x00"), nil, "audio/amr-wb"},
		{"ogg opus", ogg("OpusHead"), nil, "audio/ogg"},
		{"ogg vorbis", ogg("\x01vorbis"), nil, "audio/ogg"},
		{"ogg theora", ogg("\x80theora"), nil, "video/ogg"},
		{"ogg unknown codec", ogg("whatever"), nil, "application/ogg"},
		{"3gp", ftyp("3gp4"), nil, "video/3gpp"},
		{"3g2", ftyp("3g2a"), nil, "video/3gpp2"},
		{"m4a", ftyp("M4A "), nil, "audio/mp4"},
		{"quicktime", ftyp("qt  "), nil, "video/quicktime"},
		{"mp4", ftyp("mp42"), nil, "video/mp4"},
		{"aac with its extension", []byte{0xFF, 0xF1, 0x50, 0x80, 0x00}, []string{"a.aac"}, "audio/aac"},
		{"aac frame without the extension", []byte{0xFF, 0xF1, 0x50, 0x80, 0x00}, []string{"a.bin"}, "application/octet-stream"},
		{"mp3 frame with its extension", []byte{0xFF, 0xFB, 0x90, 0x64, 0x00}, []string{"a.mp3"}, "audio/mpeg"},
		{"mp3 frame named .aac stays generic", []byte{0xFF, 0xFB, 0x90, 0x64, 0x00}, []string{"a.aac"}, "application/octet-stream"},
		{"unknown binary", []byte{0x00, 0x01, 0x02, 0x03}, []string{"a.pdf"}, "application/octet-stream"},
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0x00}, []string{"a.tar.gz"}, "application/x-gzip"},
	}
	for _, tt := range tests {
		if got := contentType(tt.data, tt.names...); got != tt.want {
			t.Errorf("%s: contentType = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestIsWebPage(t *testing.T) {
	for _, page := range []string{
		"<!DOCTYPE html><html><body>Download</body></html>",
		"\n\n  <html lang=en>",
		"<!-- share page --><div>",
		"<HEAD><title>x</title>",
		"\xEF\xBB\xBF<!DOCTYPE html><html>", // behind a UTF-8 byte order mark
		`<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml">`,
	} {
		if !isWebPage([]byte(page)) {
			t.Errorf("%q (sniffed %q) is not taken for a web page", page, contentType([]byte(page)))
		}
	}
	for _, file := range []string{"%PDF-1.4", "plain text", "\xEF\xBB\xBFname,phone\n", `<?xml version="1.0"?><svg/>`, "\x89PNG\r\n\x1a\n<html>"} {
		if isWebPage([]byte(file)) {
			t.Errorf("%q is taken for a web page", file)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		DefaultMaxBytes: "2 MB", 4096: "4 KB", 1000: "1000 bytes", 3 << 20: "3 MB", 1<<20 + 1: "1048577 bytes",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q; want %q", n, got, want)
		}
	}
}
