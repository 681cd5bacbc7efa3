"""An HTTPS peer with a private certificate authority, for the TLS tests of stella-http and of
the OTLP exporter of stella-telemetry.

Usage: tls_peer.py <dir> [--client-certs]

Makes a CA, a server certificate for 127.0.0.1 and localhost signed by it, and a client
certificate (CN=stella-client) signed by it, and writes ca.pem, client.pem and client-key.pem
into <dir>. Then serves HTTPS on 127.0.0.1 (a free port), asking for a client certificate
signed by the CA when --client-certs is given. Prints one JSON line with the port, then one
JSON line per request: method, path, body length, the client certificate's CN (or null), and
for POST /v1/traces the number of spans decoded with the official OTLP definitions (when the
opentelemetry-proto package is installed). Answers 200 (an empty OTLP response to
/v1/traces). Runs until killed. Nothing here is a real credential: every key is made fresh
for the run.
"""

import datetime
import http.server
import json
import os
import ssl
import sys
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def certificate(subject, key, issuer, issuer_key, ca=False, server=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    elif server:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def pem_cert(c):
    return c.public_bytes(serialization.Encoding.PEM)


def pem_key(k):
    return k.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def main():
    out = sys.argv[1]
    want_client = "--client-certs" in sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(name("stella test CA"), ca_key, name("stella test CA"), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate(name("localhost"), server_key, ca.subject, ca_key, server=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = certificate(name("stella-client"), client_key, ca.subject, ca_key)
    files = {
        "ca.pem": pem_cert(ca),
        "client.pem": pem_cert(client),
        "client-key.pem": pem_key(client_key),
        "server.pem": pem_cert(server) + pem_cert(ca),
        "server-key.pem": pem_key(server_key),
    }
    for f, data in files.items():
        with open(os.path.join(out, f), "wb") as fh:
            fh.write(data)

    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError:
        trace_service_pb2 = None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def report(self, body):
            cert = self.connection.getpeercert()
            cn = None
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            cn = v
            spans = None
            if self.path == "/v1/traces" and trace_service_pb2 is not None and body:
                req = trace_service_pb2.ExportTraceServiceRequest()
                req.ParseFromString(body)
                spans = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
            print(json.dumps({"method": self.command, "path": self.path, "bytes": len(body),
                              "client": cn, "spans": spans}), flush=True)

        def answer(self, body, ctype):
            self.send_response(200)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.report(b"")
            self.answer(b"ok", "text/plain")

        def do_POST(self):
            n = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(n)
            if self.headers.get("content-encoding") == "gzip":
                import gzip
                body = gzip.decompress(body)
            self.report(body)
            self.answer(b"", "application/x-protobuf")

        def log_message(self, *args):
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(out, "server.pem"), os.path.join(out, "server-key.pem"))
    if want_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(os.path.join(out, "ca.pem"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    print(json.dumps({"port": httpd.server_address[1]}), flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
