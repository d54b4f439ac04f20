//! `etcdserverpb.Cluster`: the member list. Membership is fixed at bootstrap in this build, so the
//! reconfiguration RPCs answer `Unimplemented`.

use super::{unimplemented, Shared};
use crate::pb::etcdserverpb::cluster_server::Cluster;
use crate::pb::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse, MemberPromoteRequest,
    MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
};
use crate::types::Revision;
use tonic::{Request, Response, Status};

pub struct ClusterService {
    pub shared: Shared,
}

impl ClusterService {
    /// The members as this member knows them (etcd 3.4 serves the list locally, not linearizably).
    fn members(&self) -> Vec<Member> {
        let state = self.shared.state();
        state
            .members
            .iter()
            .map(|(id, m)| Member {
                id: id.0,
                name: m.name.clone(),
                peer_ur_ls: m.peer_urls.clone(),
                client_ur_ls: m.client_urls.clone(),
                is_learner: false,
            })
            .collect()
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(&self, _: Request<MemberAddRequest>) -> Result<Response<MemberAddResponse>, Status> {
        Err(unimplemented("member add (runtime reconfiguration)"))
    }
    async fn member_remove(&self, _: Request<MemberRemoveRequest>) -> Result<Response<MemberRemoveResponse>, Status> {
        Err(unimplemented("member remove (runtime reconfiguration)"))
    }
    async fn member_update(&self, _: Request<MemberUpdateRequest>) -> Result<Response<MemberUpdateResponse>, Status> {
        Err(unimplemented("member update (runtime reconfiguration)"))
    }
    async fn member_list(&self, _: Request<MemberListRequest>) -> Result<Response<MemberListResponse>, Status> {
        let members = self.members();
        // etcd's Cluster service headers carry no revision.
        Ok(Response::new(MemberListResponse { header: self.shared.header(Revision(0)), members }))
    }
    async fn member_promote(&self, _: Request<MemberPromoteRequest>) -> Result<Response<MemberPromoteResponse>, Status> {
        Err(unimplemented("member promote (learners)"))
    }
}
