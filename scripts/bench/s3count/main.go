// Command s3count is a counting reverse proxy for an S3 server, for
// scripts/bench_s3.sh: every request it forwards is counted by kind (GET,
// ranged GET, HEAD, PUT, conditional PUT, LIST, DELETE, COPY). GET
// /__count on the proxy returns the counts as JSON; POST /__reset zeroes
// them. Signatures stay valid: the Host header passes through unchanged.
//
//	go run ./scripts/bench/s3count -listen 127.0.0.1:9001 -target http://127.0.0.1:9000
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to listen on")
	target := flag.String("target", "", "the S3 server's URL")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		log.Fatalf("-target %q: want http://host:port", *target)
	}
	var mu sync.Mutex // protects counts
	counts := map[string]int64{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/__count":
			mu.Lock()
			defer mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(counts)
			return
		case "/__reset":
			mu.Lock()
			counts = map[string]int64{}
			mu.Unlock()
			return
		}
		kind := r.Method
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && (q.Has("list-type") || q.Has("prefix") || q.Has("delimiter")):
			kind = "LIST"
		case r.Method == http.MethodGet && r.Header.Get("Range") != "":
			kind = "GET-range"
		case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
			kind = "COPY"
		case r.Method == http.MethodPut && r.Header.Get("If-None-Match") != "":
			kind = "PUT-if-absent"
		}
		mu.Lock()
		counts[kind]++
		counts["total"]++
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
