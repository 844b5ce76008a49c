namespace Largeguest.Ksm;

/// <summary>A VM's UUID as VDSM passes it in <c>vmId</c>: 8-4-4-4-12 hex digits, kept in lower case.</summary>
public readonly record struct VmId
{
    public const string Syntax = "a UUID such as 3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11";

    private VmId(string value) => Value = value;

    public string Value { get; }

    public override string ToString() => Value;

    public static bool TryParse(string? text, out VmId id)
    {
        id = default;
        if (text is null || text.Length != 36) return false;
        for (var i = 0; i < 36; i++)
        {
            var c = text[i];
            var dash = i is 8 or 13 or 18 or 23;
            if (dash ? c != '-' : !char.IsAsciiHexDigit(c)) return false;
        }
        id = new VmId(text.ToLowerInvariant());
        return true;
    }

    public static VmId Parse(string? text, string what = "vmId") =>
        TryParse(text, out var id) ? id : throw new KsmException($"{what}: bad value '{text}' (expected: {Syntax})");
}
