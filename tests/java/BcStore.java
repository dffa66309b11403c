// Re-writes a PKCS#12 store with Bouncy Castle's own PKCS#12 writer, the
// one KeyStore Explorer uses (BER, RC2-40 certificates, a 3DES key, SHA-1
// MAC by default), so minica's tests read a store of that style.
//
//   java -cp bcprov.jar BcStore.java IN.p12 OUT.p12 PASSWORD
import java.io.*;
import java.security.*;
import java.util.Collections;

public class BcStore {
    public static void main(String[] a) throws Exception {
        Security.addProvider(new org.bouncycastle.jce.provider.BouncyCastleProvider());
        char[] pw = a[2].toCharArray();
        KeyStore src = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(a[0])) {
            src.load(in, pw);
        }
        KeyStore dst = KeyStore.getInstance("PKCS12", "BC");
        dst.load(null, null);
        for (String alias : Collections.list(src.aliases())) {
            if (src.isKeyEntry(alias)) {
                dst.setKeyEntry(alias, src.getKey(alias, pw), pw, src.getCertificateChain(alias));
            } else {
                dst.setCertificateEntry(alias, src.getCertificate(alias));
            }
        }
        try (OutputStream out = new FileOutputStream(a[1])) {
            dst.store(out, pw);
        }
    }
}
