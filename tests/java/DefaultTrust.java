// A Java client with Java's default truststore (the JDK's cacerts): no
// -Djavax.net.ssl.trustStore, no custom TrustManager, as an ordinary
// application would be. Used by tests/trust.rs.
//
//   java DefaultTrust.java URL      prints the body; exit 0, or 1 on any error
import java.io.InputStream;
import java.net.URI;
import javax.net.ssl.HttpsURLConnection;

public class DefaultTrust {
    public static void main(String[] args) {
        try {
            HttpsURLConnection c = (HttpsURLConnection) URI.create(args[0]).toURL().openConnection();
            c.setConnectTimeout(10000);
            c.setReadTimeout(10000);
            try (InputStream in = c.getInputStream()) {
                System.out.println(new String(in.readAllBytes(), "UTF-8"));
            }
        } catch (Exception e) {
            System.err.println("DefaultTrust: " + e);
            System.exit(1);
        }
    }
}
