package cloudapi

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
)

func TestMimeTypeOf(t *testing.T) {
	tests := []struct{ sniffed, want string }{
		{"image/png", "image/png"},
		{"text/plain; charset=utf-8", "text/plain"},
		{"Audio/OGG", "audio/ogg"},
		{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"", "application/octet-stream"},
	}
	for _, tt := range tests {
		if got := mimeTypeOf(tt.sniffed); got != tt.want {
			t.Errorf("mimeTypeOf(%q) = %q, want %q", tt.sniffed, got, tt.want)
		}
	}
}

func TestMediaKindAndPlan(t *testing.T) {
	long := strings.Repeat("ñ", MaxCaption) // characters, not bytes
	tests := []struct {
		mime, text  string
		kind        string
		caption     string
		separate    bool
		description string
	}{
		{"image/jpeg", "hi", kindImage, "hi", false, "jpeg is an image with caption"},
		{"image/png", long, kindImage, long, false, "1024 characters still fit"},
		{"image/png", long + "x", kindImage, "", true, "1025 characters go separately"},
		{"image/gif", "hi", kindDocument, "hi", false, "gif is not a Meta image type"},
		{"image/webp", "hi", kindDocument, "hi", false, "webp would only be a sticker: a document"},
		{"audio/wav", "hi", kindDocument, "hi", false, "wav is not a Meta audio type"},
		{"video/mp4", "hi", kindVideo, "hi", false, ""},
		{"video/3gpp", "", kindVideo, "", false, "no text, no caption"},
		{"video/webm", "hi", kindDocument, "hi", false, "webm is not a Meta video type"},
		{"audio/ogg", "hi", kindAudio, "", true, "audio takes no caption"},
		{"audio/mpeg", "", kindAudio, "", false, "audio alone"},
		{"application/pdf", "hi", kindDocument, "hi", false, ""},
		{"text/plain", "hi", kindDocument, "hi", false, ""},
	}
	for _, tt := range tests {
		kind := mediaKind(tt.mime)
		caption, separate := plan(kind, tt.text)
		if kind != tt.kind || caption != tt.caption || separate != tt.separate {
			t.Errorf("%s (%s): kind %q caption %d chars separate %v; want %q, %d, %v", tt.mime, tt.description,
				kind, len([]rune(caption)), separate, tt.kind, len([]rune(tt.caption)), tt.separate)
		}
	}
}

func TestUploadFormCarriesTheRealType(t *testing.T) {
	data := []byte("%PDF-1.7 fake")
	body, ct, err := uploadForm("application/pdf", `Q3 "report" ñ.pdf`, data)
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("content type %q", ct)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	fields := map[string]string{}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if p.FormName() == "file" {
			if got := p.Header.Get("Content-Type"); got != "application/pdf" {
				t.Errorf("file part Content-Type = %q, want application/pdf", got)
			}
			if got := p.FileName(); got != "Q3__report___.pdf" {
				t.Errorf("file part name = %q", got)
			}
			if !bytes.Equal(b, data) {
				t.Errorf("file part data = %q", b)
			}
			continue
		}
		fields[p.FormName()] = string(b)
	}
	if fields["messaging_product"] != "whatsapp" || fields["type"] != "application/pdf" {
		t.Errorf("fields = %v", fields)
	}
	// What Go's CreateFormFile would have sent, and Meta refuses.
	if strings.Contains(string(body), "application/octet-stream") {
		t.Error("the form mentions application/octet-stream")
	}
}

func TestPartFileName(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "file",
		"..":                              "file",
		"../../etc/passwd":                "passwd",
		"a b.png":                         "a_b.png",
		strings.Repeat("x", 300) + ".pdf": strings.Repeat("x", 100),
	} {
		if got := partFileName(in); got != want {
			t.Errorf("partFileName(%q) = %q, want %q", in, got, want)
		}
	}
}
