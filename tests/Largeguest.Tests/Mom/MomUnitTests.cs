using System.Net.Sockets;
using System.Text;
using Largeguest.Config;
using Largeguest.Ksm;
using Largeguest.Ksm.Mom;

namespace Largeguest.Tests.Mom;

/// <summary>The pure parts of the MoM cooperation: mom.conf, the XML-RPC codec, what gets published; the client against
/// failure modes the real MoM cannot produce.</summary>
public sealed class MomUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("largeguest-mom-unit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void VDSMs_own_mom_conf_means_MoM_manages_KSM_over_its_socket()
    {
        var path = Path.Combine(RealMom.ThirdParty, "vdsm", "static", "etc", "vdsm", "mom.conf.in");
        var mom = MomConfig.Parse(path, File.ReadAllText(path));
        mom.Controllers.Should().Be("Balloon, KSM, CpuTune, IoTune");
        mom.ManagesKsm.Should().BeTrue();
        mom.Endpoint.Should().Be(new MomEndpoint("@VDSMRUNDIR@/mom-vdsm.sock", null));
        mom.PolicyFile.Should().Be("@CONFDIR@/mom.d/02-largeguest.policy");
    }

    [Theory]
    [InlineData("[main]\n", "Balloon", false)]                                  // MoM's default controllers
    [InlineData("[main]\ncontrollers: Balloon, KSM\n", "Balloon, KSM", true)]
    [InlineData("[main]\ncontrollers = KSM,CpuTune\n", "KSM,CpuTune", true)]
    [InlineData("[main]\ncontrollers: Balloon, ksm\n", "Balloon, ksm", false)]   // MoM's names are case-sensitive
    [InlineData("[main]\ncontrollers:\n", "", false)]
    [InlineData("[DEFAULT]\ncontrollers: KSM\n[main]\n", "KSM", true)]
    [InlineData("# c\n; c\n[main]\ncontrollers: Balloon,\n  KSM\n", "Balloon,\nKSM", true)] // a continuation line
    public void Controllers_are_read_as_MoM_reads_them(string text, string controllers, bool ksm)
    {
        var mom = MomConfig.Parse("m.conf", text);
        (mom.Controllers, mom.ManagesKsm).Should().Be((controllers, ksm));
    }

    [Theory]
    [InlineData("", null, null)]  // MoM's default -1: off
    [InlineData("rpc-port: -1", null, null)]
    [InlineData("rpc-port: 8888", null, 8888)]
    [InlineData("rpc-port: /run/vdsm/mom-vdsm.sock", "/run/vdsm/mom-vdsm.sock", null)]
    public void Rpc_port_is_a_socket_path_a_port_or_off(string line, string? socket, int? port)
    {
        var endpoint = MomConfig.Parse("m.conf", $"[main]\n{line}\n").Endpoint;
        endpoint.Should().Be(new MomEndpoint(socket, port));
        endpoint.Disabled.Should().Be(socket is null && port is null);
    }

    [Theory]
    [InlineData("controllers: KSM\n", "line 1: 'controllers: KSM' comes before any [section] header")]
    [InlineData("[main]\njust words\n", "line 2: 'just words' is not 'key: value' or 'key = value'")]
    [InlineData("[main\n", "line 1: bad section header '[main'")]
    [InlineData("[main]\nrpc-port: 1\nRPC-PORT: 2\n", "line 3: key 'rpc-port' appears twice")]
    [InlineData("[main]\n[main]\n", "line 2: section '[main]' appears twice")]
    public void A_malformed_mom_conf_is_an_error_naming_the_file_line_and_token(string text, string message)
    {
        var parse = () => MomConfig.Parse("/etc/vdsm/mom.conf", text);
        parse.Should().Throw<MomException>().WithMessage($"/etc/vdsm/mom.conf: {message}*");
    }

    [Fact]
    public void No_mom_conf_means_no_MoM_and_no_tuner_conflict()
    {
        var missing = Path.Combine(_dir, "absent.conf");
        MomConfig.Load(missing).Should().BeNull();
        MomConfig.TunerConflict(missing).Should().BeNull();
        var balloon = Path.Combine(_dir, "balloon.conf");
        File.WriteAllText(balloon, "[main]\ncontrollers: Balloon\n");
        MomConfig.TunerConflict(balloon).Should().BeNull();
    }

    [Fact]
    public void Mom_ConfigPath_defaults_to_VDSMs_file_and_must_be_absolute()
    {
        LargeguestConfig.Defaults.MomConfigPath.Should().Be("/etc/vdsm/mom.conf");
        var bad = () => LargeguestConfig.FromOptions(
            new LargeguestOptions { Mom = new MomOptions { ConfigPath = "mom.conf" } }, "f.json");
        bad.Should().Throw<ConfigException>()
            .WithMessage("f.json: Mom:ConfigPath: bad value 'mom.conf' (expected: an absolute path)");
    }

    [Fact]
    public void Method_calls_encode_strings_escaped_booleans_ints_and_nil()
    {
        XmlRpc.MethodCall("setNamedPolicy", "02-x", "(a < b) & c", true, 7, null).Should().Be(
            "<?xml version=\"1.0\"?>\n<methodCall><methodName>setNamedPolicy</methodName><params>" +
            "<param><value><string>02-x</string></value></param><param><value><string>(a &lt; b) &amp; " +
                "c</string></value></param>" +
            "<param><value><boolean>1</boolean></value></param><param><value><int>7</int></value></param>" +
            "<param><value><nil/></value></param></params></methodCall>\n");
        var request = Encoding.UTF8.GetString(XmlRpc.HttpRequest("<x/>"));
        request.Should().StartWith("POST /RPC2 HTTP/1.0\r\n").And.Contain("Content-Length: 4\r\n")
            .And.EndWith("\r\n\r\n<x/>");
    }

    private static byte[] Http(string body, string status = "200 OK") =>
        Encoding.UTF8.GetBytes($"HTTP/1.0 {status}\r\nContent-type: text/xml\r\nContent-length: " +
            $"{Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}");

    private static string Response(string value) =>
        $"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n{value}\n</param>\n" +
            "</params>\n</methodResponse>\n";

    [Fact]
    public void Responses_decode_every_type_MoM_sends()
    {
        XmlRpc.ParseHttpResponse(Http(Response("<value><boolean>1</boolean></value>"))).Should().Be(true);
        XmlRpc.ParseHttpResponse(Http(Response("<value>plain</value>"))).Should().Be("plain");
        XmlRpc.ParseHttpResponse(Http(Response("<value><nil/></value>"))).Should().BeNull();
        var value = XmlRpc.ParseHttpResponse(Http(Response(
            "<value><struct><member><name>host</name><value><struct>" +
            "<member><name>ksm_run</name><value><int>1</int></value></member>" +
            "<member><name>mem_available</name><value><i8>8589934592</i8></value></member>" +
            "<member><name>load</name><value><double>0.25</double></value></member>" +
            "<member><name>p</name><value><string>(set x 0)\n</string></value></member>" +
            "<member><name>list</name><value><array><data><value><int>-3</int></value>" +
            "<value><string>s</string></value></data></array></value></member>" +
            "</struct></value></member></struct></value>")));
        var host = value.Should().BeAssignableTo<IReadOnlyDictionary<string, object?>>().Subject["host"]
            .Should().BeAssignableTo<IReadOnlyDictionary<string, object?>>().Subject;
        host["ksm_run"].Should().Be(1);
        host["mem_available"].Should().Be(8589934592L);
        host["load"].Should().Be(0.25);
        host["p"].Should().Be("(set x 0)\n");
        host["list"].Should().BeEquivalentTo(new object?[] { -3, "s" });
        XmlRpc.ParseMethodResponse("<methodResponse><params><param><value><struct>" +
            "<member><name>a</name><value>1</value></member>" +
            "<member><name>a</name><value>2</value></member></struct></value></param></params></methodResponse>")
            .Should().BeEquivalentTo(new Dictionary<string, object?> { ["a"] = "2" }, "a repeated member keeps its " +
                "last value");
    }

    [Theory]
    [InlineData("HTTP/1.0 404 Not Found", "<x/>", "HTTP status '404 Not Found'")]
    [InlineData("HTTP/1.0 200 OK",
        "<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>", "bad <int> " +
        "value 'x'")]
    [InlineData("HTTP/1.0 200 OK", "<methodResponse><params>", "malformed XML-RPC response*")]
    [InlineData("HTTP/1.0 200 OK", "<methodResponse/>", "a <methodResponse> with neither <params> nor <fault>")]
    [InlineData("HTTP/1.0 200 OK",
        "<methodResponse><params><param><value><base64>AA==</base64></value></param></params></methodResponse>",
        "unsupported XML-RPC type <base64>")]
    [InlineData("HTTP/1.0 200 OK",
        "<methodResponse><params><param><value><struct><member><value>1</value></member></struct></value></param>" +
        "</params></methodResponse>",
        "a struct <member> without <name>")]
    public void Malformed_responses_say_what_is_wrong(string status, string body, string message)
    {
        var parse = () => XmlRpc.ParseHttpResponse(Http(body, status["HTTP/1.0 ".Length..]));
        parse.Should().Throw<XmlRpcFormatException>().WithMessage(message);
        var noHttp = () => XmlRpc.ParseHttpResponse("garbage"u8);
        noHttp.Should().Throw<XmlRpcFormatException>().WithMessage("not an HTTP response*");
    }

    [Fact]
    public void A_fault_is_surfaced_with_its_code_and_text()
    {
        var fault = "<methodResponse><fault><value><struct>" +
                    "<member><name>faultCode</name><value><int>1</int></value></member>" +
                    "<member><name>faultString</name><value><string>&lt;class 'TypeError'&gt;:setNamedPolicy() " +
                        "missing 1 argument</string></value></member>" +
                    "</struct></value></fault></methodResponse>";
        var parse = () => XmlRpc.ParseHttpResponse(Http(fault));
        parse.Should().Throw<XmlRpcFaultException>().Which
            .Should().Match<XmlRpcFaultException>(e => e.Code == 1 && e.Text.StartsWith("<class 'TypeError'>"));
    }

    [Theory]
    [InlineData(true, true, true)]
    [InlineData(false, false, false)]
    [InlineData(false, true, null)]  // asked 0, host still at 1 (our transition refused): MoM must not unmerge for us
    [InlineData(null, true, null)]   // nobody asks: MoM goes back to the engine's value
    [InlineData(false, null, null)]  // no merge_across_nodes on this kernel
    public void Only_a_value_the_host_already_holds_is_published(bool? desired, bool? current, bool? published) =>
        MomPublisher.Publishable(desired, current).Should().Be(published);

    [Fact]
    public void The_policy_text_says_who_owns_it_and_sets_MoMs_variable()
    {
        var text = MomPublisher.PolicyText(false);
        text.Split('\n')[0].Should().StartWith("# Owned by vdsm-hook-largeguest");
        text.Should().EndWith("\n(set ksmMergeAcrossNodes 0)\n");
        MomPublisher.PolicyText(true).Should().EndWith("(set ksmMergeAcrossNodes 1)\n");
        string.CompareOrdinal("01-parameters", MomConfig.PolicyName).Should().BeNegative();
        string.CompareOrdinal(MomConfig.PolicyName, "03-ksm")
            .Should().BeNegative("MoM evaluates named policies in name order");
    }

    /// <summary>A unix socket answering each connection with <paramref name="answer"/> (null: accept and never
    /// answer).</summary>
    private string FakeServer(byte[]? answer, List<string>? requests = null) => FakeServer(_ => answer, requests);

    /// <summary>A unix socket answering each request with what <paramref name="answer"/> gives for it (null: never
    /// answer).</summary>
    private string FakeServer(Func<string, byte[]?> answer, List<string>? requests = null)
    {
        var path = Path.Combine(_dir, $"fake-{Guid.NewGuid():N}.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        _ = Task.Run(async () =>
        {
            using (listener)
                while (true)
                {
                    var s = await listener.AcceptAsync();
                    var buffer = new byte[65536];
                    var n = await s.ReceiveAsync(buffer);
                    var request = Encoding.UTF8.GetString(buffer, 0, n);
                    lock (requests ?? []) requests?.Add(request);
                    if (answer(request) is not { } bytes) continue; // keep the connection open, say nothing
                    await s.SendAsync(bytes);
                    s.Dispose();
                }
        });
        return path;
    }

    [Fact]
    public void The_client_reports_refusal_fault_silence_and_absence_naming_the_socket()
    {
        var refusing = FakeServer(Http(Response("<value><boolean>0</boolean></value>")));
        new MomClient(new MomEndpoint(refusing, null)).SetNamedPolicy("02-largeguest", "(set x 0)").Should().BeFalse();

        var silent = FakeServer((byte[]?)null);
        var wait = () => new MomClient(new MomEndpoint(silent, null), TimeSpan.FromMilliseconds(300)).Ping();
        wait.Should().Throw<MomException>().WithMessage($"MoM at {silent} did not answer ping: no answer within 0.3 s");

        var absent = Path.Combine(_dir, "nobody.sock");
        var none = () => new MomClient(new MomEndpoint(absent, null)).Ping();
        none.Should().Throw<MomException>().WithMessage($"MoM at {absent} did not answer ping: *");

        var off = () => new MomClient(new MomEndpoint(null, null)).Ping();
        off.Should().Throw<MomException>().WithMessage("MoM's RPC is off*");

        var faulty = FakeServer(Http("<methodResponse><fault><value><struct>" +
            "<member><name>faultCode</name><value><int>1</int></value></member>" +
            "<member><name>faultString</name><value>boom</value></member></struct></value></fault></methodResponse>"));
        var fault = () => new MomClient(new MomEndpoint(faulty, null)).Ping();
        fault.Should().Throw<MomException>().WithMessage($"MoM at {faulty} answered ping with XML-RPC fault 1: boom");
    }

    [Fact]
    public void A_refusing_MoM_is_a_failure_saying_MoM_will_revert_and_the_file_is_still_written()
    {
        var requests = new List<string>();
        var refusing = FakeServer(r => Http(Response(r.Contains("getNamedPolicies")
            ? "<value><struct></struct></value>"
            : "<value><boolean>0</boolean></value>")), requests);
        var policyDir = Directory.CreateDirectory(Path.Combine(_dir, "mom.d")).FullName;
        var mom = new MomConfig("/etc/vdsm/mom.conf", "KSM", new MomEndpoint(refusing, null), policyDir);
        var result = MomPublisher.Publish(mom, false);
        result.Note.Should().BeNull();
        result.Failure.Should().Be(
            $"MoM did not take policy 02-largeguest (merge_across_nodes=0): " +
            $"MoM at {refusing} refused it (setNamedPolicy returned false: the policies do not evaluate together; " +
                $"see MoM's log); " +
            $"MoM will revert merge_across_nodes to the engine's value on its next policy cycle; " +
            $"the policy file {policyDir}/02-largeguest.policy is written, so a MoM started later loads it");
        File.ReadAllText(Path.Combine(policyDir, "02-largeguest.policy")).Should().Be(MomPublisher.PolicyText(false));
        Directory.GetFiles(policyDir).Should().ContainSingle("the temp file of the atomic write is gone");
        lock (requests) requests
            .Select(r => r[r.IndexOf("<methodName>", StringComparison.Ordinal)..r.IndexOf("</methodName>",
            StringComparison.Ordinal)])
            .Should().Equal("<methodName>getNamedPolicies", "<methodName>setNamedPolicy");
        lock (requests) requests[1].Should().Contain("<string>02-largeguest</string>");

        var missingDir = mom with { PolicyDir = Path.Combine(_dir, "nope") };
        MomPublisher.Publish(missingDir, true).Failure.Should().Contain($"{_dir}/nope: MoM's policy-dir does not exist")
            .And.Contain("refused it");
    }
}
