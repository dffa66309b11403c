// A Java peer for minica's tests: it loads keystores and truststores through
// the standard KeyStore / KeyManagerFactory / TrustManagerFactory classes,
// exactly as a Spring or Kafka service would, and talks TLS with them.
//
//   java TlsPeer list   STORE PWFILE
//   java TlsPeer server KEYSTORE TRUSTSTORE PWFILE            (prints "PORT n")
//   java TlsPeer client KEYSTORE|- TRUSTSTORE PWFILE HOST PORT MESSAGE
//
// Passwords are read from a UTF-8 file, so non-ASCII passwords are tested
// without depending on the locale of the command line.
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.util.*;
import javax.net.ssl.*;

public class TlsPeer {
    static char[] password(String file) throws IOException {
        return Files.readString(Path.of(file), StandardCharsets.UTF_8).strip().toCharArray();
    }

    static KeyStore load(String file, char[] pw) throws Exception {
        KeyStore ks = KeyStore.getInstance(file.endsWith(".jks") ? "JKS" : "PKCS12");
        try (InputStream in = new FileInputStream(file)) {
            ks.load(in, pw);
        }
        return ks;
    }

    static SSLContext context(String keystore, String truststore, char[] pw) throws Exception {
        KeyManager[] km = null;
        if (!keystore.equals("-")) {
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(load(keystore, pw), pw);
            km = kmf.getKeyManagers();
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(load(truststore, pw));
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(km, tmf.getTrustManagers(), null);
        return ctx;
    }

    public static void main(String[] args) {
        try {
            switch (args[0]) {
                case "list" -> list(args[1], password(args[2]));
                case "server" -> server(args[1], args[2], password(args[3]));
                case "client" -> client(args[1], args[2], password(args[3]), args[4], Integer.parseInt(args[5]), args[6]);
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (Exception e) {
            System.out.println("ERROR " + e);
            System.exit(1);
        }
    }

    static void list(String file, char[] pw) throws Exception {
        KeyStore ks = load(file, pw);
        for (String alias : Collections.list(ks.aliases())) {
            if (ks.isKeyEntry(alias)) {
                Key key = ks.getKey(alias, pw);
                java.security.cert.Certificate[] chain = ks.getCertificateChain(alias);
                System.out.println("key " + alias + " " + key.getAlgorithm() + " chain=" + chain.length);
            } else if (ks.isCertificateEntry(alias)) {
                System.out.println("trusted " + alias);
            }
        }
    }

    static void server(String keystore, String truststore, char[] pw) throws Exception {
        SSLContext ctx = context(keystore, truststore, pw);
        try (SSLServerSocket ss = (SSLServerSocket) ctx.getServerSocketFactory()
                .createServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            ss.setNeedClientAuth(true);
            System.out.println("PORT " + ss.getLocalPort());
            System.out.flush();
            while (true) {
                try (SSLSocket s = (SSLSocket) ss.accept()) {
                    s.startHandshake();
                    BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                    String line = in.readLine();
                    String peer = s.getSession().getPeerPrincipal().getName();
                    Writer out = new OutputStreamWriter(s.getOutputStream(), StandardCharsets.UTF_8);
                    out.write("hello " + line + " from " + peer + "\n");
                    out.flush();
                } catch (IOException e) {
                    System.out.println("REFUSED " + e);
                    System.out.flush();
                }
            }
        }
    }

    static void client(String keystore, String truststore, char[] pw, String host, int port, String message) throws Exception {
        SSLContext ctx = context(keystore, truststore, pw);
        Socket raw = new Socket("127.0.0.1", port);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(raw, host, port, true)) {
            SSLParameters p = s.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            s.setSSLParameters(p);
            s.startHandshake();
            Writer out = new OutputStreamWriter(s.getOutputStream(), StandardCharsets.UTF_8);
            out.write(message + "\n");
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            String reply = in.readLine();
            if (reply == null) {
                throw new IOException("the server closed the connection");
            }
            System.out.println(reply);
        }
    }
}
