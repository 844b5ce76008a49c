import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Evaluates the engine's custom-property regular expressions the way ovirt-engine does, for the
 * packaging tests: the UserDefinedVMProperties value is split on ';', each definition on the first
 * '=' (CustomPropertiesUtils.parsePropertiesRegex), compiled with Pattern.compile, and a property
 * value is valid when pattern.matcher(value).matches() (VmPropertiesUtils.validateProperties).
 *
 * usage: java RegexCheck.java DEFINITIONS CORPUS VERDICTS
 *   DEFINITIONS  file holding the UserDefinedVMProperties value (one line)
 *   CORPUS       lines NAME TAB HEX, HEX being the value's UTF-16 code units, 4 hex digits each
 *   VERDICTS     written: one line per corpus line, 1 (matches) or 0
 */
public class RegexCheck {
    public static void main(String[] args) throws Exception {
        String definitions = Files.readString(Path.of(args[0]), StandardCharsets.UTF_8).strip();
        Map<String, Pattern> patterns = new HashMap<>();
        for (String definition : definitions.split(";")) {
            String[] parts = definition.split("=", 2);
            patterns.put(parts[0], Pattern.compile(parts[1]));
        }
        List<String> corpus = Files.readAllLines(Path.of(args[1]), StandardCharsets.US_ASCII);
        StringBuilder verdicts = new StringBuilder(corpus.size() * 2);
        for (String line : corpus) {
            int tab = line.indexOf('\t');
            Pattern pattern = patterns.get(line.substring(0, tab));
            if (pattern == null) throw new IllegalArgumentException("no definition for property " + line.substring(0, tab));
            verdicts.append(pattern.matcher(decode(line.substring(tab + 1))).matches() ? '1' : '0').append('\n');
        }
        Files.writeString(Path.of(args[2]), verdicts, StandardCharsets.US_ASCII);
    }

    private static String decode(String hex) {
        char[] chars = new char[hex.length() / 4];
        for (int i = 0; i < chars.length; i++) chars[i] = (char) Integer.parseInt(hex.substring(4 * i, 4 * i + 4), 16);
        return new String(chars);
    }
}
