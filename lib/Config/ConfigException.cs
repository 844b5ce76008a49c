namespace Largeguest.Config;

/// <summary>The configuration cannot be used; the message names the file and/or key.</summary>
public sealed class ConfigException(string message) : Exception(message);
