// Package fetch downloads a message's file_url before the message's turn
// comes (SPEC §2). It implements sender.Fetcher.
//
// The file_url comes from whoever holds a workspace's inbound URL, so the
// fetcher treats it as hostile: it must not become a way to reach the
// server's own network (SSRF), to exhaust its memory, or to read back what
// an internal service answers. The rules, and the choices made where the
// SPEC leaves room:
//
//   - Only http and https; the URL needs a host and must not carry a user
//     name or password (SPEC §1 asks for a public link, and credentials in a
//     URL leak into logs and error texts).
//   - Where it connects: every connection is checked on its resolved IP
//     address by netguard.Control, a net.Dialer hook the webhook
//     deliverer shares, just before connect(2), so every DNS answer and
//     every redirect hop is checked and DNS rebinding has no window
//     between check and use. Refused: loopback, private (RFC 1918,
//     IPv6 unique-local fc00::/7, site-local fec0::/10), link-local (cloud
//     metadata at 169.254.169.254 included), carrier-grade NAT 100.64/10,
//     multicast, unspecified and 0.0.0.0/8, broadcast, 192.0.0.0/24,
//     240.0.0.0/4, benchmarking 198.18/15 and 2001:2::/48, the
//     documentation ranges, and in IPv6 everything outside global unicast
//     2000::/3 plus 2001::/23 (Teredo, ORCHID…). IPv4 written as IPv6 is
//     judged as the IPv4 address it carries: IPv4-mapped (::ffff:a.b.c.d),
//     NAT64 (64:ff9b::/96) and 6to4 (2002::/16); the latter two are allowed
//     when that address is public, so a server on an IPv6-only network with
//     DNS64 still reaches IPv4-only hosts. Config.AllowPrivate
//     (--allow-private-file-urls) lifts the check, for tests and closed
//     networks.
//   - No proxy from the environment (a proxy would connect for us, out of
//     the check's reach).
//   - At most 5 redirects (Config.MaxRedirects), never from https to http,
//     each hop held to the same URL rules, and without the Referer header
//     http.Client would add: it carries the previous hop's whole URL, so a
//     signed link's token would reach the next host.
//   - At most 2 MB, read as 2 MiB (Config.MaxBytes): a Content-Length above
//     it fails before the body is read; otherwise at most MaxBytes+1 bytes
//     are read, so a chunked body without a length is cut off there too.
//   - No transparent decompression: the request asks for
//     Accept-Encoding: identity and the bytes received are the file, even
//     if the host labels them Content-Encoding: gzip. That is right for the
//     common misconfiguration (Apache serving foo.tar.gz with
//     Content-Encoding: gzip), and it means no decompression bomb.
//   - The content type is sniffed from the bytes (http.DetectContentType);
//     the host's Content-Type header is never read. Generic answers are
//     refined (see refine): zip containers by the file name's extension
//     (.docx, .xlsx, .pptx, OpenDocument, .epub), OLE files likewise (.doc,
//     .xls, .ppt), text by extension (.csv, .tsv, .vcf, .ics), and formats
//     WhatsApp takes that Go does not sniff by their magic numbers (AMR,
//     3GP, M4A, QuickTime, Ogg Opus/Vorbis; AAC and MP3 frames with a
//     matching extension). An HTML page (also behind a UTF-8 byte order
//     mark, and XHTML) fails, whatever its declared type, with "file_url
//     returned a web page, not a direct download link": that is a share
//     page, not the file.
//
// Errors follow sender.Fetcher's contract. Permanent: a bad or refused URL,
// a blocked address, a redirect rule broken, an unknown host (DNS
// NXDOMAIN), a bad TLS certificate, 401, 403, 404, 410 and other 4xx, a
// 3xx without a redirect to follow, too large, empty, a web page.
// Transient: timeouts, refused or broken connections, DNS failures other
// than NXDOMAIN, 408, 425, 429 and 5xx, with sender.RetryAfter when the
// host sends Retry-After (capped at 30 minutes). Error texts are written
// for the workspace that reads the message's error: they name the host
// (never the path or the query, which may carry a signed link's token),
// the status, the size limit or the address class, and never the fetched
// body, the host's reason phrase, or the blocked IP address itself (a host
// name that resolves inside the server's network must not reveal that
// network's layout).
package fetch
