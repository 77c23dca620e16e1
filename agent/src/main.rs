fn main() {
    println!("azp-agent: not yet implemented");
}
