namespace Largeguest.Domain;

/// <summary>The domain XML itself is unusable (unreadable, not well-formed, not a libvirt domain).</summary>
public sealed class DomainXmlException(string message) : Exception(message);
