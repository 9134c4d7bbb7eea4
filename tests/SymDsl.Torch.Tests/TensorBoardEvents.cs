namespace SymDsl.Tests;

/// <summary>
/// Reads TensorBoard event files back: TFRecord framing (uint64 length, masked CRC-32C of the length, the Event
/// protobuf, masked CRC-32C of the data), every record checked, then the scalars of every Event.
/// </summary>
internal static class TensorBoardEvents
{
    public sealed record Scalar(string Tag, long Step, float Value);

    /// <summary>Every scalar in the event files under <paramref name="dir"/>, file by file in name order.</summary>
    public static List<Scalar> Read(string dir)
    {
        var scalars = new List<Scalar>();
        foreach (var file in Directory.GetFiles(dir, "events.out.tfevents.*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(file);
            var pos = 0;
            while (pos < bytes.Length)
            {
                Assert.True(pos + 12 <= bytes.Length, $"{file}: truncated record header at byte {pos}");
                var length = BitConverter.ToInt64(bytes, pos);
                Assert.Equal(Masked(Crc32C(bytes.AsSpan(pos, 8))), BitConverter.ToUInt32(bytes, pos + 8));
                pos += 12;
                Assert.True(length >= 0 && pos + length + 4 <= bytes.Length, $"{file}: truncated record at byte {pos}");
                var data = bytes.AsSpan(pos, (int)length);
                Assert.Equal(Masked(Crc32C(data)), BitConverter.ToUInt32(bytes, pos + (int)length));
                var ev = Tensorboard.Event.Parser.ParseFrom(bytes, pos, (int)length); // the Span overload needs newer generated code than TorchSharp ships
                pos += (int)length + 4;
                if (ev.Summary is { } summary)
                    foreach (var v in summary.Value) scalars.Add(new Scalar(v.Tag, ev.Step, v.SimpleValue));
            }
        }
        return scalars;
    }

    static uint Masked(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8u;

    static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }
}
