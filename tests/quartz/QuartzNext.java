import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.TimeZone;
import org.quartz.CronExpression;

/**
 * Next fire times from Quartz's CronExpression, in bulk, for the differential
 * test tests/unit/cron/test_cron_quartz.py.
 *
 * Input: one query per line, tab-separated: zone id, start instant (epoch ms),
 * chain length n, Quartz expression. Output: one line per query, in order:
 * "OK" followed by up to n fire instants (epoch ms, space-separated; fewer when
 * getTimeAfter returns null), or "ERR" and the parse error.
 */
public final class QuartzNext {
    private QuartzNext() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            out.write(answer(line.split("\t", 4)));
            out.newLine();
        }
        out.flush();
    }

    private static String answer(String[] query) {
        TimeZone zone = TimeZone.getTimeZone(query[0]);
        if (!zone.getID().equals(query[0])) {
            return "ERR unknown zone " + query[0];
        }
        long start = Long.parseLong(query[1]);
        int count = Integer.parseInt(query[2]);
        CronExpression expression;
        try {
            expression = new CronExpression(query[3]);
        } catch (Exception e) { // ParseException, and runtime errors Quartz throws on odd input
            return "ERR " + e.toString().replace('\n', ' ');
        }
        expression.setTimeZone(zone);
        StringBuilder line = new StringBuilder("OK");
        Date current = new Date(start);
        for (int i = 0; i < count; i++) {
            current = expression.getTimeAfter(current);
            if (current == null) {
                break;
            }
            line.append(' ').append(current.getTime());
        }
        return line.toString();
    }
}
