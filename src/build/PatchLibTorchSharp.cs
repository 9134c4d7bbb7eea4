// Compiled by MSBuild's RoslynCodeTaskFactory (see LibTorchSharpCompat.targets). Plain ELF64 little-endian editing.
using System;
using System.IO;
using System.Text;
public class SymDslPatchLibTorchSharp : Microsoft.Build.Utilities.Task
{
    const string Version = "GLIBCXX_3.4.32";
    const uint ShtDynsym = 11, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;

    [Microsoft.Build.Framework.Required]
    public Microsoft.Build.Framework.ITaskItem[] Files { get; set; }

    public override bool Execute()
    {
        if (MachineHasVersion())
        {
            Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "SymDsl: libstdc++ provides " + Version + "; libLibTorchSharp.so left as shipped.");
            return true;
        }
        foreach (var item in Files)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                byte[] elf = File.ReadAllBytes(path);
                int changed = Patch(elf);
                if (changed == 0) continue;
                string tmp = path + ".symdsl-tmp";
                File.WriteAllBytes(tmp, elf);
                File.Replace(tmp, path, null);
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "SymDsl: made " + Version + " weak in " + path + " (" + changed + " entries).");
            }
            catch (Exception e)
            {
                Log.LogError("SymDsl: could not patch " + path + ": " + e.Message);
                return false;
            }
        }
        return true;
    }

    static bool MachineHasVersion()
    {
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };
        foreach (var c in candidates)
        {
            if (!File.Exists(c)) continue;
            byte[] bytes = File.ReadAllBytes(c);
            return IndexOf(bytes, Encoding.ASCII.GetBytes(Version + "\0")) >= 0;
        }
        return false; // unknown layout: patching is harmless where the version exists
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    static ushort U16(byte[] b, long o) => BitConverter.ToUInt16(b, (int)o);
    static uint U32(byte[] b, long o) => BitConverter.ToUInt32(b, (int)o);
    static long U64(byte[] b, long o) => (long)BitConverter.ToUInt64(b, (int)o);

    static string CString(byte[] b, long o)
    {
        int end = (int)o;
        while (b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)o, end - (int)o);
    }

    // Returns how many entries were changed (0 when already patched or nothing to do).
    static int Patch(byte[] b)
    {
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
            throw new InvalidDataException("not a 64-bit little-endian ELF file");
        long shoff = U64(b, 0x28);
        int shentsize = U16(b, 0x3A), shnum = U16(b, 0x3C);
        long verneedOff = -1, verneedSize = 0, dynsymOff = -1, dynsymSize = 0, versymOff = -1;
        int verneedLink = -1, verneedCount = 0;
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            uint type = U32(b, sh + 4);
            if (type == ShtGnuVerneed) { verneedOff = U64(b, sh + 0x18); verneedSize = U64(b, sh + 0x20); verneedLink = (int)U32(b, sh + 0x28); verneedCount = (int)U32(b, sh + 0x2C); }
            else if (type == ShtDynsym) { dynsymOff = U64(b, sh + 0x18); dynsymSize = U64(b, sh + 0x20); }
            else if (type == ShtGnuVersym) { versymOff = U64(b, sh + 0x18); }
        }
        if (verneedOff < 0 || dynsymOff < 0 || versymOff < 0) throw new InvalidDataException("missing version sections");
        long strtab = U64(b, shoff + (long)verneedLink * shentsize + 0x18);

        int changed = 0;
        var versionIndex = -1;
        long vn = verneedOff;
        for (int n = 0; n < verneedCount; n++)
        {
            int cnt = U16(b, vn + 2);
            long aux = vn + U32(b, vn + 8);
            for (int a = 0; a < cnt; a++)
            {
                if (CString(b, strtab + U32(b, aux + 8)) == Version)
                {
                    ushort flags = U16(b, aux + 4);
                    versionIndex = U16(b, aux + 6) & 0x7fff;
                    if ((flags & 2) == 0) { BitConverter.GetBytes((ushort)(flags | 2)).CopyTo(b, aux + 4); changed++; }
                }
                aux += U32(b, aux + 12);
            }
            uint next = U32(b, vn + 12);
            if (next == 0) break;
            vn += next;
        }
        if (versionIndex < 0) return 0;

        long symCount = dynsymSize / 24;
        for (long s = 0; s < symCount; s++)
        {
            if ((U16(b, versymOff + s * 2) & 0x7fff) != versionIndex) continue;
            long sym = dynsymOff + s * 24;
            if (U16(b, sym + 6) != 0) continue; // defined here: leave it
            byte info = b[sym + 4];
            byte weak = (byte)((2 << 4) | (info & 0xf));
            if (info != weak) { b[sym + 4] = weak; changed++; }
        }
        return changed;
    }
}
